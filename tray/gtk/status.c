/*
 * "Open status": what the icon means, in full (ferry-tray status in a window), and the
 * buttons for the usual next step.
 */
#include <string.h>

#include "ferry/model/states.h"
#include "gtk/internal.h"

typedef struct status_view {
    ferry_tray_app_t *app;
    GtkWidget *win;
    GtkWidget *tooltip, *binding, *link, *installed, *task, *last, *pending, *config, *license, *last_config,
        *message;
    GtkWidget *answer;
} status_view_t;

static void task_text(const char *what, const Ferry__V1__UpdateTask *t, char *buf, size_t size)
{
    if (t == NULL) {
        g_snprintf(buf, size, "%s", what);
        return;
    }
    g_snprintf(buf, size, "%s %s: %d %s%s%s%s%s%s%s", t->id, t->package_version, (int)t->state,
               ferry_state_name((int)t->state), t->error_code[0] ? " " : "", t->error_code,
               t->message[0] ? " - " : "", t->message, t->backup_local_path[0] ? "\nbackup: " : "",
               t->backup_local_path);
}

static void status_show(void *p, const Ferry__V1__AgentStatus *st)
{
    status_view_t *v = p;
    char buf[2048];
    ferry_tray_icon_t icon = ferry_tray_icon_state(st);
    tray_label_set(v->tooltip, ferry_tray_tooltip(st, icon, buf, sizeof(buf)));
    if (st == NULL) {
        tray_label_set(v->binding, "-");
        char why[FERRY_ERR_MSG_MAX + 128];
        g_snprintf(why, sizeof(why), "the agent is not running or not reachable%s%s",
                   v->app->down_reason[0] ? ": " : "", v->app->down_reason);
        tray_label_set(v->link, why);
        tray_label_set(v->installed, "-");
        tray_label_set(v->task, "-");
        tray_label_set(v->last, "-");
        tray_label_set(v->pending, "-");
        tray_label_set(v->config, "-");
        tray_label_set(v->license, "-");
        tray_label_set(v->last_config, "-");
        gtk_widget_set_sensitive(v->answer, FALSE);
        return;
    }
    if (st->bound)
        g_snprintf(buf, sizeof(buf), "node %s (%s / %s, %s) on %s", st->node_code, st->customer_code,
                   st->store_code, ferry_tray_env_name(st->environment), st->server_url);
    else
        g_snprintf(buf, sizeof(buf), "not bound (menu: Bind this node...)");
    tray_label_set(v->binding, buf);
    g_snprintf(buf, sizeof(buf), "%s%s%s", ferry_tray_link_text(st->link), st->last_error[0] ? " - " : "",
               st->last_error);
    tray_label_set(v->link, buf);
    g_snprintf(buf, sizeof(buf), "%s (agent %s)",
               st->installed_version[0] ? st->installed_version : "unknown", st->agent_version);
    tray_label_set(v->installed, buf);
    task_text("idle", st->current_task, buf, sizeof(buf));
    if (st->current_task != NULL && !ferry_state_is_terminal((int)st->current_task->state)) {
        size_t l = strlen(buf);
        g_snprintf(buf + l, sizeof(buf) - l, " %u%%", st->current_task->percent);
    }
    tray_label_set(v->task, buf);
    task_text("none since the agent started", st->last_task, buf, sizeof(buf));
    tray_label_set(v->last, buf);
    g_snprintf(buf, sizeof(buf), "%u update(s)%s; %u report(s) buffered", st->pending_count,
               st->prompt_waiting ? ", one waits for your answer" : "", st->buffered_reports);
    tray_label_set(v->pending, buf);
    g_snprintf(buf, sizeof(buf), "version %lld", (long long)st->node_config_version);
    tray_label_set(v->config, buf);
    tray_label_set(v->license, ferry_tray_license_text(st, buf, sizeof(buf)));
    tray_label_set(v->last_config, ferry_tray_last_config_text(st, buf, sizeof(buf)));
    gtk_widget_set_sensitive(v->answer, st->prompt_waiting || st->pending_count > 0);
}

void tray_status_message(ferry_tray_app_t *app, const char *text)
{
    GtkWidget *w = ferry_tray_app_window(app, "win-status");
    status_view_t *v = w != NULL ? g_object_get_data(G_OBJECT(w), "ferry-view") : NULL;
    if (v != NULL)
        tray_label_set(v->message, text);
}

static void on_check(GtkButton *b, gpointer p)
{
    (void)b;
    status_view_t *v = p;
    tray_action_check(v->app);
}

static void on_answer(GtkButton *b, gpointer p)
{
    (void)b;
    status_view_t *v = p;
    ferry_tray_app_open_prompt(v->app, NULL);
}

static void on_now(GtkButton *b, gpointer p)
{
    (void)b;
    status_view_t *v = p;
    tray_status_message(v->app, "Starting the oldest pending update...");
    tray_action_update_now(v->app);
}

static GtkWidget *row(GtkWidget *grid, int r, const char *caption, const char *name)
{
    GtkWidget *c = tray_caption(caption);
    gtk_widget_set_valign(c, GTK_ALIGN_START);
    GtkWidget *l = tray_label(name, "");
    gtk_widget_set_hexpand(l, TRUE);
    gtk_grid_attach(GTK_GRID(grid), c, 0, r, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), l, 1, r, 1, 1);
    return l;
}

GtkWidget *tray_status_window(ferry_tray_app_t *app)
{
    status_view_t *v = g_new0(status_view_t, 1);
    v->app = app;
    v->win = tray_window_new(app, "win-status", "Ferry - status", v, g_free);
    gtk_window_set_default_size(GTK_WINDOW(v->win), 560, -1);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10);
    v->tooltip = tray_label("status-tooltip", "");
    gtk_style_context_add_class(gtk_widget_get_style_context(v->tooltip), "ferry-headline");
    gtk_box_pack_start(GTK_BOX(box), v->tooltip, FALSE, FALSE, 0);
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 4);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
    v->binding = row(grid, 0, "Binding", "status-binding");
    v->link = row(grid, 1, "Server link", "status-link");
    v->installed = row(grid, 2, "Installed", "status-installed");
    v->task = row(grid, 3, "Running", "status-task");
    v->last = row(grid, 4, "Last update", "status-last");
    v->pending = row(grid, 5, "Pending", "status-pending");
    v->config = row(grid, 6, "Node configuration", "status-config");
    v->license = row(grid, 7, "Licence", "status-license");
    v->last_config = row(grid, 8, "Configuration file", "status-last-config");
    gtk_box_pack_start(GTK_BOX(box), grid, FALSE, FALSE, 0);
    v->message = tray_label("status-message", "");
    gtk_box_pack_start(GTK_BOX(box), v->message, FALSE, FALSE, 0);
    GtkWidget *bb = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(bb), GTK_BUTTONBOX_END);
    gtk_box_set_spacing(GTK_BOX(bb), 6);
    GtkWidget *check = tray_button("status-check", "_Check for updates");
    v->answer = tray_button("status-answer", "_Answer the prompt...");
    GtkWidget *now = tray_button("status-update-now", "_Update now");
    g_signal_connect(check, "clicked", G_CALLBACK(on_check), v);
    g_signal_connect(v->answer, "clicked", G_CALLBACK(on_answer), v);
    g_signal_connect(now, "clicked", G_CALLBACK(on_now), v);
    gtk_container_add(GTK_CONTAINER(bb), check);
    gtk_container_add(GTK_CONTAINER(bb), v->answer);
    gtk_container_add(GTK_CONTAINER(bb), now);
    gtk_box_pack_end(GTK_BOX(box), bb, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(v->win), box);
    gtk_widget_show_all(v->win);
    tray_listen(app, status_show, v);
    return v->win;
}
