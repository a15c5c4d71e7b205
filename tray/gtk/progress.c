/*
 * The progress window: the seed's states 10..130 as a step list (the presenter marks
 * each: done, current, failed, skipped), a progress bar, the error code and message on
 * failure and the backup directory. Fed by every status snapshot (WatchStatus).
 */
#include <string.h>

#include "ferry/model/states.h"
#include "gtk/internal.h"

typedef struct progress_view {
    ferry_tray_app_t *app;
    GtkWidget *win;
    GtkWidget *title, *steps[FERRY_TRAY_STEPS], *bar, *headline, *error, *backup;
    ferry_tray_progress_t p;
} progress_view_t;

static const char *const MARK_CLASS[] = {
    [FERRY_TRAY_STEP_TODO] = NULL,
    [FERRY_TRAY_STEP_DONE] = "ferry-step-done",
    [FERRY_TRAY_STEP_CURRENT] = "ferry-step-current",
    [FERRY_TRAY_STEP_FAILED] = "ferry-step-failed",
    [FERRY_TRAY_STEP_SKIPPED] = "ferry-step-skipped",
};

static const char *mark_sign(ferry_tray_step_mark_t m)
{
    switch (m) {
    case FERRY_TRAY_STEP_DONE:
        return "\u2713"; /* check mark */
    case FERRY_TRAY_STEP_CURRENT:
        return "\u25b6"; /* triangle */
    case FERRY_TRAY_STEP_FAILED:
        return "\u2717"; /* cross */
    case FERRY_TRAY_STEP_SKIPPED:
        return "-";
    default:
        return " ";
    }
}

static void show(progress_view_t *v)
{
    ferry_tray_step_t steps[FERRY_TRAY_STEPS];
    char buf[1400];
    ferry_tray_progress_steps(&v->p, steps);
    for (size_t i = 0; i < FERRY_TRAY_STEPS; i++) {
        GtkStyleContext *sc = gtk_widget_get_style_context(v->steps[i]);
        for (size_t k = 0; k < G_N_ELEMENTS(MARK_CLASS); k++)
            if (MARK_CLASS[k] != NULL)
                gtk_style_context_remove_class(sc, MARK_CLASS[k]);
        if (MARK_CLASS[steps[i].mark] != NULL)
            gtk_style_context_add_class(sc, MARK_CLASS[steps[i].mark]);
        if (steps[i].mark == FERRY_TRAY_STEP_CURRENT && !v->p.finished && v->p.percent > 0)
            g_snprintf(buf, sizeof(buf), "%s  %3d  %s  (%u%%)", mark_sign(steps[i].mark), steps[i].state,
                       steps[i].label, v->p.percent);
        else
            g_snprintf(buf, sizeof(buf), "%s  %3d  %s", mark_sign(steps[i].mark), steps[i].state,
                       steps[i].label);
        tray_label_set(v->steps[i], buf);
    }
    double f = ferry_tray_progress_fraction(&v->p);
    gtk_progress_bar_set_fraction(GTK_PROGRESS_BAR(v->bar), f);
    g_snprintf(buf, sizeof(buf), "%d%%", (int)(f * 100.0 + 0.5));
    gtk_progress_bar_set_text(GTK_PROGRESS_BAR(v->bar), buf);
    tray_label_set(v->headline, ferry_tray_progress_line(&v->p, buf, sizeof(buf)));
    if (v->p.version[0] != '\0') {
        bool rb = v->p.kind == FERRY__V1__TASK_KIND__TASK_KIND_ROLLBACK;
        bool ok = v->p.state == 100 || (rb && v->p.state == 130);
        if (v->p.finished)
            g_snprintf(buf, sizeof(buf), "%s %s (task %s): %s", rb ? "Rollback to" : "Update to",
                       v->p.version, v->p.task_id,
                       ok                  ? "done"
                       : v->p.state == 130 ? "failed, the backup was restored"
                                           : "failed");
        else
            g_snprintf(buf, sizeof(buf), "%s %s (task %s)", rb ? "Rolling back to" : "Updating to",
                       v->p.version, v->p.task_id);
        tray_label_set(v->title, buf);
    }
    if (v->p.error_code[0] != '\0') {
        g_snprintf(buf, sizeof(buf), "%s: %s", v->p.error_code, v->p.message);
        tray_error_set(v->error, buf);
    } else {
        tray_error_set(v->error, "");
    }
    if (v->p.backup_path[0] != '\0') {
        g_snprintf(buf, sizeof(buf), "Backup: %s", v->p.backup_path);
        tray_label_set(v->backup, buf);
    }
}

static void progress_status(void *p, const Ferry__V1__AgentStatus *st)
{
    progress_view_t *v = p;
    if (ferry_tray_progress_feed(&v->p, st)) {
        if (v->p.task_id[0] != '\0')
            g_object_set_data_full(G_OBJECT(v->win), "ferry-task", g_strdup(v->p.task_id), g_free);
        show(v);
    }
}

GtkWidget *tray_progress_window(ferry_tray_app_t *app, const char *task_id)
{
    progress_view_t *v = g_new0(progress_view_t, 1);
    v->app = app;
    ferry_tray_progress_init(&v->p, task_id);
    v->win = tray_window_new(app, "win-progress", "Ferry - update progress", v, g_free);
    g_object_set_data_full(G_OBJECT(v->win), "ferry-task", g_strdup(task_id != NULL ? task_id : ""), g_free);
    gtk_window_set_default_size(GTK_WINDOW(v->win), 520, -1);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 6);
    v->title = tray_label("progress-title", "Waiting for the agent to start the task...");
    gtk_style_context_add_class(gtk_widget_get_style_context(v->title), "ferry-headline");
    gtk_box_pack_start(GTK_BOX(box), v->title, FALSE, FALSE, 0);
    GtkWidget *list = gtk_box_new(GTK_ORIENTATION_VERTICAL, 1);
    ferry_tray_step_t steps[FERRY_TRAY_STEPS];
    ferry_tray_progress_steps(&v->p, steps);
    for (size_t i = 0; i < FERRY_TRAY_STEPS; i++) {
        char n[40];
        g_snprintf(n, sizeof(n), "progress-step-%d", steps[i].state);
        v->steps[i] = tray_label(n, "");
        gtk_box_pack_start(GTK_BOX(list), v->steps[i], FALSE, FALSE, 0);
    }
    gtk_box_pack_start(GTK_BOX(box), list, FALSE, FALSE, 4);
    v->bar = gtk_progress_bar_new();
    gtk_widget_set_name(v->bar, "progress-bar");
    gtk_progress_bar_set_show_text(GTK_PROGRESS_BAR(v->bar), TRUE);
    gtk_box_pack_start(GTK_BOX(box), v->bar, FALSE, FALSE, 0);
    v->headline = tray_label("progress-headline", "");
    v->error = tray_error_label("progress-error");
    v->backup = tray_label("progress-backup", "");
    gtk_box_pack_start(GTK_BOX(box), v->headline, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), v->error, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), v->backup, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(v->win), box);
    show(v);
    gtk_widget_show_all(v->win);
    tray_listen(app, progress_status, v);
    return v->win;
}
