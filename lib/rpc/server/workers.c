/* Worker thread pool; see workers_internal.h. */
#include "workers_internal.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
    struct job *next;
    void (*fn)(void *arg);
    void *arg;
} job_t;

struct ferry_workers {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head, *tail; /* owned jobs, FIFO */
    size_t queued;
    size_t max_queued;
    bool stopping;
    unsigned n_threads;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    ferry_workers_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->head == NULL && !w->stopping)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->head == NULL)
            break; /* stopping and drained */
        job_t *j = w->head;
        w->head = j->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->queued--;
        pthread_mutex_unlock(&w->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ferry_workers_t *ferry_workers_new(unsigned n, size_t max_queued)
{
    ferry_workers_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->max_queued = max_queued;
    w->threads = calloc(n, sizeof(*w->threads));
    if (w->threads == NULL) {
        ferry_workers_free(w);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
            ferry_workers_free(w);
            return NULL;
        }
        w->n_threads++;
    }
    return w;
}

int ferry_workers_submit(ferry_workers_t *w, void (*fn)(void *arg), void *arg)
{
    int rc = -1;
    job_t *j = malloc(sizeof(*j));
    if (j == NULL)
        return -1;
    j->next = NULL;
    j->fn = fn;
    j->arg = arg;
    pthread_mutex_lock(&w->mu);
    if (w->stopping || w->queued >= w->max_queued)
        goto out;
    if (w->tail != NULL)
        w->tail->next = j;
    else
        w->head = j;
    w->tail = j;
    w->queued++;
    j = NULL;
    rc = 0;
    pthread_cond_signal(&w->cv);
out:
    pthread_mutex_unlock(&w->mu);
    free(j);
    return rc;
}

void ferry_workers_free(ferry_workers_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    free(w->threads);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
