/*
 * The optional-update prompt (seed 000 §6.3, decision 2): version, description, size,
 * a countdown to the deadline, "Update now" and "Later" (1 h / 4 h / tomorrow, each cut
 * at the deadline by the presenter). Once the deadline has passed the window says the
 * update runs now and offers no choice.
 */
#include <string.h>
#include <time.h>

#include "gtk/internal.h"

typedef struct prompt_view {
    ferry_tray_app_t *app;
    GtkWidget *win;
    GtkWidget *version, *description, *size, *deadline, *now, *later[FERRY_TRAY_MAX_DEFER], *result;
    char task_id[128];
    int64_t deadline_s;
    bool loaded, answered;
    ferry_tray_defer_choice_t choices[FERRY_TRAY_MAX_DEFER];
    size_t n_choices;
    guint tick;
} prompt_view_t;

/* The labels die with the window; the view may live on while a call holds the window. */
static void prompt_destroyed(GtkWidget *w, gpointer p)
{
    (void)w;
    prompt_view_t *v = p;
    if (v->tick != 0)
        g_source_remove(v->tick);
    v->tick = 0;
}

/* Countdown and choices for "now": recomputed every second, so the buttons never offer a
 * time past the deadline. */
static void refresh(prompt_view_t *v)
{
    char buf[256];
    int64_t now = (int64_t)time(NULL);
    if (!v->loaded)
        return;
    tray_label_set(v->deadline, ferry_tray_deadline_text(now, v->deadline_s, buf, sizeof(buf)));
    v->n_choices = v->answered ? 0 : ferry_tray_defer_choices(now, v->deadline_s, v->choices);
    for (size_t i = 0; i < FERRY_TRAY_MAX_DEFER; i++) {
        bool on = i < v->n_choices;
        gtk_widget_set_visible(v->later[i], on);
        if (on) {
            char l[96];
            g_snprintf(l, sizeof(l), "Later: %s", v->choices[i].label);
            gtk_button_set_label(GTK_BUTTON(v->later[i]), l);
        }
    }
    bool passed = ferry_tray_deadline_passed(now, v->deadline_s);
    gtk_widget_set_visible(v->now, !passed && !v->answered);
}

static gboolean on_tick(gpointer p)
{
    refresh(p);
    return G_SOURCE_CONTINUE;
}

static void list_work(tray_job_t *job, ferry_tray_client_t *c)
{
    Ferry__V1__ListPendingUpdatesResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_list_updates(c, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void list_done(tray_job_t *job)
{
    prompt_view_t *v = job->view;
    char buf[FERRY_ERR_MSG_MAX + 64];
    if (job->rc != FERRY_OK) {
        g_snprintf(buf, sizeof(buf), "%s: %s", ferry_err_name(job->rc), job->err.msg);
        tray_label_set(v->result, buf);
        return;
    }
    const Ferry__V1__ListPendingUpdatesResponse *r = (const void *)job->out;
    const Ferry__V1__PendingUpdate *u = ferry_tray_prompt_pick(r->updates, r->n_updates, v->task_id);
    if (u == NULL) {
        tray_label_set(v->version, "No optional update waits for an answer.");
        tray_label_set(v->result, "");
        return;
    }
    g_strlcpy(v->task_id, u->task->id, sizeof(v->task_id));
    g_object_set_data_full(G_OBJECT(v->win), "ferry-task", g_strdup(v->task_id), g_free);
    v->deadline_s = u->task->deadline != NULL ? u->task->deadline->seconds : 0;
    g_snprintf(buf, sizeof(buf), "Version %s is available (task %s)", u->task->package_version, u->task->id);
    tray_label_set(v->version, buf);
    tray_label_set(v->description, u->description[0] ? u->description : "(no description)");
    char sz[32];
    g_snprintf(buf, sizeof(buf), "Download size: %s%s",
               u->size > 0 ? ferry_tray_size_text(u->size, sz, sizeof(sz)) : "unknown",
               u->ready ? " (already downloaded and verified)" : "");
    tray_label_set(v->size, buf);
    if (u->prompt == FERRY__V1__PROMPT_STATE__PROMPT_STATE_DEFERRED && u->deferred_until != NULL) {
        GDateTime *d = g_date_time_new_from_unix_local(u->deferred_until->seconds);
        char *s = g_date_time_format(d, "%a %H:%M");
        g_snprintf(buf, sizeof(buf), "Deferred until %s; you can answer now.", s);
        g_free(s);
        g_date_time_unref(d);
        tray_label_set(v->result, buf);
    } else {
        tray_label_set(v->result, "The service stops during the update; a backup is taken first.");
    }
    v->loaded = true;
    gtk_widget_set_sensitive(v->now, TRUE);
    for (size_t i = 0; i < FERRY_TRAY_MAX_DEFER; i++)
        gtk_widget_set_sensitive(v->later[i], TRUE);
    refresh(v);
}

typedef struct respond_arg {
    char task_id[128];
    bool now;
    int64_t defer_s;
} respond_arg_t;

static void respond_work(tray_job_t *job, ferry_tray_client_t *c)
{
    respond_arg_t *a = job->arg;
    Ferry__V1__RespondToPromptResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_respond(c, a->task_id, a->now, a->defer_s, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void respond_done(tray_job_t *job)
{
    prompt_view_t *v = job->view;
    respond_arg_t *a = job->arg;
    char buf[FERRY_ERR_MSG_MAX + 64];
    if (job->rc != FERRY_OK) {
        g_snprintf(buf, sizeof(buf), "%s: %s", ferry_err_name(job->rc), job->err.msg);
        tray_label_set(v->result, buf);
        v->answered = false;
        gtk_widget_set_sensitive(v->now, TRUE);
        for (size_t i = 0; i < FERRY_TRAY_MAX_DEFER; i++)
            gtk_widget_set_sensitive(v->later[i], TRUE);
        refresh(v);
        return;
    }
    if (a->now) {
        /* The progress window takes over. */
        ferry_tray_app_open_progress(v->app, a->task_id);
        gtk_widget_destroy(v->win);
        return;
    }
    const Ferry__V1__RespondToPromptResponse *r = (const void *)job->out;
    int64_t until = r->update != NULL && r->update->deferred_until != NULL
                        ? r->update->deferred_until->seconds
                        : (int64_t)time(NULL) + a->defer_s;
    GDateTime *d = g_date_time_new_from_unix_local(until);
    char *s = g_date_time_format(d, "%a %Y-%m-%d %H:%M");
    g_snprintf(buf, sizeof(buf), "Deferred until %s; you will be asked again then.", s);
    g_free(s);
    g_date_time_unref(d);
    tray_label_set(v->result, buf);
    refresh(v);
}

static void answer(prompt_view_t *v, bool now, int64_t defer_s)
{
    respond_arg_t *a = g_new0(respond_arg_t, 1);
    g_strlcpy(a->task_id, v->task_id, sizeof(a->task_id));
    a->now = now;
    a->defer_s = defer_s;
    v->answered = true;
    gtk_widget_set_sensitive(v->now, FALSE);
    for (size_t i = 0; i < FERRY_TRAY_MAX_DEFER; i++)
        gtk_widget_set_sensitive(v->later[i], FALSE);
    tray_label_set(v->result, now ? "Starting the update..." : "Deferring...");
    tray_job_run(v->app, v->win, v, respond_work, respond_done, a, g_free);
}

static void on_now(GtkButton *b, gpointer p)
{
    (void)b;
    answer(p, true, 0);
}

static void on_later(GtkButton *b, gpointer p)
{
    prompt_view_t *v = p;
    for (size_t i = 0; i < v->n_choices; i++)
        if (GTK_WIDGET(b) == v->later[i]) {
            /* From the click, not from the last tick: never past the deadline. */
            int64_t now = (int64_t)time(NULL);
            int64_t d = v->choices[i].until_s - now;
            answer(v, false, d > 0 ? d : 1);
            return;
        }
}

/* A prompt answered elsewhere (terminal, deadline) stops offering choices. */
static void prompt_status(void *p, const Ferry__V1__AgentStatus *st)
{
    prompt_view_t *v = p;
    if (st != NULL && st->current_task != NULL && strcmp(st->current_task->id, v->task_id) == 0 &&
        st->current_task->state != FERRY__V1__TASK_STATE__TASK_STATE_WAITING_USER &&
        st->current_task->state != FERRY__V1__TASK_STATE__TASK_STATE_PENDING && !v->answered) {
        v->answered = true;
        tray_label_set(v->result, "The update is running (answered elsewhere or the deadline passed).");
        refresh(v);
    }
}

GtkWidget *tray_prompt_window(ferry_tray_app_t *app, const char *task_id)
{
    prompt_view_t *v = g_new0(prompt_view_t, 1);
    v->app = app;
    g_strlcpy(v->task_id, task_id != NULL ? task_id : "", sizeof(v->task_id));
    v->win = tray_window_new(app, "win-prompt", "Ferry - update available", v, g_free);
    g_signal_connect(v->win, "destroy", G_CALLBACK(prompt_destroyed), v);
    g_object_set_data_full(G_OBJECT(v->win), "ferry-task", g_strdup(v->task_id), g_free);
    gtk_window_set_default_size(GTK_WINDOW(v->win), 520, -1);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
    v->version = tray_label("prompt-version", "Asking the agent...");
    gtk_style_context_add_class(gtk_widget_get_style_context(v->version), "ferry-headline");
    v->description = tray_label("prompt-description", "");
    v->size = tray_label("prompt-size", "");
    v->deadline = tray_label("prompt-deadline", "");
    v->result = tray_label("prompt-result", "");
    gtk_box_pack_start(GTK_BOX(box), v->version, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), v->description, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), v->size, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), v->deadline, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), v->result, FALSE, FALSE, 0);
    GtkWidget *bb = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(bb), GTK_BUTTONBOX_END);
    gtk_box_set_spacing(GTK_BOX(bb), 6);
    for (size_t i = 0; i < FERRY_TRAY_MAX_DEFER; i++) {
        char n[32];
        g_snprintf(n, sizeof(n), "prompt-later-%zu", i);
        v->later[i] = tray_button(n, "Later");
        gtk_widget_set_sensitive(v->later[i], FALSE);
        g_signal_connect(v->later[i], "clicked", G_CALLBACK(on_later), v);
        gtk_container_add(GTK_CONTAINER(bb), v->later[i]);
    }
    v->now = tray_button_main("prompt-now", "Update _now");
    gtk_widget_set_sensitive(v->now, FALSE);
    g_signal_connect(v->now, "clicked", G_CALLBACK(on_now), v);
    gtk_container_add(GTK_CONTAINER(bb), v->now);
    gtk_box_pack_end(GTK_BOX(box), bb, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(v->win), box);
    gtk_widget_show_all(v->win);
    v->tick = g_timeout_add_seconds(1, on_tick, v);
    tray_listen(app, prompt_status, v);
    tray_job_run(app, v->win, v, list_work, list_done, NULL, NULL);
    return v->win;
}
