/*
 * Shared inside tray/gtk: the app, background calls, small widget helpers. Not a public
 * header (views.h is).
 */
#ifndef FERRY_TRAY_GTK_INTERNAL_H
#define FERRY_TRAY_GTK_INTERNAL_H

#include <gtk/gtk.h>
#include <libayatana-appindicator/app-indicator.h>
#include <stdbool.h>

#include "ferry/tray/client.h"
#include "ferry/tray/presenter.h"
#include "gtk/views.h"

/* A view that wants every status snapshot (progress, status window, prompt). */
typedef void (*tray_status_fn)(void *view, const Ferry__V1__AgentStatus *st);

typedef struct tray_listener {
    tray_status_fn fn;
    void *view;
} tray_listener_t;

struct ferry_tray_app {
    char *state_dir;
    bool auto_windows;
    AppIndicator *indicator;
    GtkWidget *menu;
    GtkWidget *menu_line; /* the tooltip as the menu's first (insensitive) item */
    GtkWidget *menu_bind;
    char tooltip[512];
    char seen[FERRY_TRAY_ICON_IDLE + 1][512]; /* last tooltip per icon state */
    const char *icon_name;
    ferry_tray_icon_t icon;
    Ferry__V1__AgentStatus *status;           /* last snapshot (NULL: agent down) */
    bool status_known;                        /* at least one snapshot (or failure) arrived */
    char down_reason[FERRY_ERR_MSG_MAX + 32]; /* why the agent is unreachable (status NULL) */
    unsigned status_count;
    unsigned notifications;
    bool bind_offered;
    GList *listeners;     /* tray_listener_t* */
    GHashTable *windows;  /* name -> GtkWidget* (not owned) */
    GDBusConnection *bus; /* session bus for notifications (NULL: none) */

    /* Status watch thread. */
    GThread *watch;
    GMutex mu;
    GCond cond;
    bool stop;
    ferry_tray_client_t *watch_client; /* guarded by mu */

    /* Background calls in flight (main thread only). */
    unsigned jobs;
};

/* ---- background calls ---------------------------------------------------------------- */

typedef struct tray_job tray_job_t;
/* Runs on a worker thread with a fresh client (c NULL: connecting failed, job->err says why). */
typedef void (*tray_job_work_fn)(tray_job_t *job, ferry_tray_client_t *c);
/* Runs on the main thread afterwards, unless the window was closed meanwhile. */
typedef void (*tray_job_done_fn)(tray_job_t *job);

struct tray_job {
    ferry_tray_app_t *app;
    GtkWidget *window; /* referenced while the job runs */
    void *view;
    tray_job_work_fn work;
    tray_job_done_fn done;
    ferry_err_code_t rc;
    ferry_err_t err;
    ProtobufCMessage *out;  /* result, freed after done */
    ProtobufCMessage *out2; /* a second result, freed after done */
    void *arg;              /* input, freed with arg_free */
    void (*arg_free)(void *);
    char s[1024];
    int64_t i;
    bool b;
};

/* Starts |work| on a worker thread with |arg| (freed with |arg_free| afterwards); |done|
 * follows on the main thread. */
void tray_job_run(ferry_tray_app_t *app, GtkWidget *window, void *view, tray_job_work_fn work,
                  tray_job_done_fn done, void *arg, void (*arg_free)(void *));

/* ---- windows ---------------------------------------------------------------------------- */

/* A new top-level window named |name| registered with the app (one per name): closing it
 * unregisters it; |view| is freed with |view_free| when the window is finalised (after the
 * last job referencing it). */
GtkWidget *tray_window_new(ferry_tray_app_t *app, const char *name, const char *title, void *view,
                           void (*view_free)(void *));

/* Whether |w| was closed (destroyed) since. */
bool tray_window_closed(GtkWidget *w);

void tray_listen(ferry_tray_app_t *app, tray_status_fn fn, void *view);
void tray_unlisten(ferry_tray_app_t *app, void *view);

/* Named widgets. */
GtkWidget *tray_label(const char *name, const char *text);
/* A field's caption in a form's first column (no wrap). */
GtkWidget *tray_caption(const char *text);
GtkWidget *tray_button(const char *name, const char *text);
/* The window's main action (highlighted). */
GtkWidget *tray_button_main(const char *name, const char *text);
/* An error line (red, hidden while empty). */
GtkWidget *tray_error_label(const char *name);
void tray_error_set(GtkWidget *label, const char *text);
void tray_label_set(GtkWidget *label, const char *text);
/* A dim help line. */
GtkWidget *tray_help_label(const char *text);

/* The windows (each file). */
GtkWidget *tray_status_window(ferry_tray_app_t *app);
GtkWidget *tray_bind_window(ferry_tray_app_t *app);
GtkWidget *tray_settings_window(ferry_tray_app_t *app);
GtkWidget *tray_prompt_window(ferry_tray_app_t *app, const char *task_id);
GtkWidget *tray_progress_window(ferry_tray_app_t *app, const char *task_id);
GtkWidget *tray_offline_window(ferry_tray_app_t *app);

/* Status window: a line of result ("Checked: 1 pending update"). */
void tray_status_message(ferry_tray_app_t *app, const char *text);

/* Deep copy of a status (pack + unpack); NULL in, NULL out. */
Ferry__V1__AgentStatus *tray_status_dup(const Ferry__V1__AgentStatus *st);

/* Menu actions shared with the status window. */
void tray_action_check(ferry_tray_app_t *app);
void tray_action_update_now(ferry_tray_app_t *app);

#endif
