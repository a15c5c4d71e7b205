/*
 * ferry-tray's window side (views.h): the status icon (libayatana-appindicator3, which
 * falls back to a GtkStatusIcon when no StatusNotifier host runs), its menu, the status
 * watch thread, desktop notifications, background calls and the window registry.
 *
 * Threads: GTK is touched only on the main thread. The watch thread owns its own client
 * (one per thread, client.h) and hands copies of each status to the main loop with
 * g_idle_add(); every other call runs in a job thread with a client of its own.
 */
#include <glib-unix.h>
#include <signal.h>
#include <string.h>

#include "gtk/internal.h"

#define WATCH_RETRY_MS 1000

/* ---- small widget helpers ------------------------------------------------------------------ */

GtkWidget *tray_label(const char *name, const char *text)
{
    GtkWidget *l = gtk_label_new(text != NULL ? text : "");
    if (name != NULL)
        gtk_widget_set_name(l, name);
    gtk_label_set_xalign(GTK_LABEL(l), 0.0f);
    gtk_label_set_line_wrap(GTK_LABEL(l), TRUE);
    /* Not selectable: GTK would focus and select the first such label of a window. */
    gtk_label_set_max_width_chars(GTK_LABEL(l), 70);
    /* A wrapping label asks for its height at its minimum width: a floor keeps windows from
     * growing tall and empty. */
    gtk_label_set_width_chars(GTK_LABEL(l), 30);
    return l;
}

GtkWidget *tray_caption(const char *text)
{
    GtkWidget *l = gtk_label_new(text);
    gtk_label_set_xalign(GTK_LABEL(l), 0.0f);
    gtk_widget_set_valign(l, GTK_ALIGN_CENTER);
    return l;
}

GtkWidget *tray_button(const char *name, const char *text)
{
    GtkWidget *b = gtk_button_new_with_mnemonic(text);
    gtk_widget_set_name(b, name);
    return b;
}

GtkWidget *tray_button_main(const char *name, const char *text)
{
    GtkWidget *b = tray_button(name, text);
    gtk_style_context_add_class(gtk_widget_get_style_context(b), "suggested-action");
    return b;
}

GtkWidget *tray_error_label(const char *name)
{
    GtkWidget *l = tray_label(name, "");
    gtk_style_context_add_class(gtk_widget_get_style_context(l), "ferry-error");
    /* An error can be copied into a ticket; hidden at first, so it never takes the focus. */
    gtk_label_set_selectable(GTK_LABEL(l), TRUE);
    gtk_widget_set_no_show_all(l, TRUE);
    gtk_widget_hide(l);
    return l;
}

void tray_error_set(GtkWidget *label, const char *text)
{
    gtk_label_set_text(GTK_LABEL(label), text != NULL ? text : "");
    gtk_widget_set_visible(label, text != NULL && text[0] != '\0');
}

void tray_label_set(GtkWidget *label, const char *text)
{
    gtk_label_set_text(GTK_LABEL(label), text != NULL ? text : "");
}

GtkWidget *tray_help_label(const char *text)
{
    GtkWidget *l = tray_label(NULL, text);
    gtk_style_context_add_class(gtk_widget_get_style_context(l), "dim-label");
    return l;
}

static void install_css(void)
{
    static const char css[] = ".ferry-error { color: #c01c28; }\n"
                              ".ferry-warning { color: #9c6500; }\n"
                              ".ferry-step-current { font-weight: bold; background-color: #d0e4fb; }\n"
                              ".ferry-step-done { color: #26a269; }\n"
                              ".ferry-step-failed { color: #c01c28; font-weight: bold; }\n"
                              ".ferry-step-skipped { color: #9a9996; }\n"
                              ".ferry-headline { font-weight: bold; }\n";
    GtkCssProvider *p = gtk_css_provider_new();
    gtk_css_provider_load_from_data(p, css, -1, NULL);
    gtk_style_context_add_provider_for_screen(gdk_screen_get_default(), GTK_STYLE_PROVIDER(p),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    g_object_unref(p);
}

/* ---- finding widgets by name ---------------------------------------------------------------- */

typedef struct find {
    const char *name;
    GtkWidget *hit;
} find_t;

static void find_in(GtkWidget *w, gpointer user)
{
    find_t *f = user;
    if (f->hit != NULL)
        return;
    if (g_strcmp0(gtk_widget_get_name(w), f->name) == 0) {
        f->hit = w;
        return;
    }
    if (GTK_IS_MENU_ITEM(w) && gtk_menu_item_get_submenu(GTK_MENU_ITEM(w)) != NULL)
        find_in(gtk_menu_item_get_submenu(GTK_MENU_ITEM(w)), f);
    /* forall, not foreach: also internal children (a dialog's action area). */
    if (f->hit == NULL && GTK_IS_CONTAINER(w))
        gtk_container_forall(GTK_CONTAINER(w), find_in, f);
}

GtkWidget *ferry_tray_gtk_find(GtkWidget *root, const char *name)
{
    find_t f = {name, NULL};
    if (root != NULL && name != NULL)
        find_in(root, &f);
    return f.hit;
}

/* ---- windows registry ------------------------------------------------------------------------- */

static void window_destroyed(GtkWidget *w, gpointer user)
{
    ferry_tray_app_t *app = user;
    const char *name = gtk_widget_get_name(w);
    g_object_set_data(G_OBJECT(w), "ferry-closed", GINT_TO_POINTER(1));
    if (g_hash_table_lookup(app->windows, name) == w)
        g_hash_table_remove(app->windows, name);
    tray_unlisten(app, g_object_get_data(G_OBJECT(w), "ferry-view"));
}

GtkWidget *tray_window_new(ferry_tray_app_t *app, const char *name, const char *title, void *view,
                           void (*view_free)(void *))
{
    GtkWidget *w = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_widget_set_name(w, name);
    gtk_window_set_title(GTK_WINDOW(w), title);
    gtk_window_set_icon_name(GTK_WINDOW(w), "system-software-update");
    gtk_container_set_border_width(GTK_CONTAINER(w), 12);
    g_object_set_data_full(G_OBJECT(w), "ferry-view", view, view_free);
    g_hash_table_replace(app->windows, g_strdup(name), w);
    g_signal_connect(w, "destroy", G_CALLBACK(window_destroyed), app);
    return w;
}

bool tray_window_closed(GtkWidget *w)
{
    return w == NULL || g_object_get_data(G_OBJECT(w), "ferry-closed") != NULL;
}

GtkWidget *ferry_tray_app_window(ferry_tray_app_t *app, const char *name)
{
    return g_hash_table_lookup(app->windows, name);
}

void tray_listen(ferry_tray_app_t *app, tray_status_fn fn, void *view)
{
    tray_listener_t *l = g_new0(tray_listener_t, 1);
    l->fn = fn;
    l->view = view;
    app->listeners = g_list_append(app->listeners, l);
    /* The current status at once, so a new window is not blank until the next change. */
    if (app->status_known)
        fn(view, app->status);
}

void tray_unlisten(ferry_tray_app_t *app, void *view)
{
    for (GList *it = app->listeners; it != NULL;) {
        GList *next = it->next;
        tray_listener_t *l = it->data;
        if (l->view == view) {
            app->listeners = g_list_delete_link(app->listeners, it);
            g_free(l);
        }
        it = next;
    }
}

/* ---- background calls --------------------------------------------------------------------------- */

static gboolean job_finish(gpointer p)
{
    tray_job_t *job = p;
    if (job->done != NULL && (job->window == NULL || !tray_window_closed(job->window)))
        job->done(job);
    if (job->out != NULL)
        protobuf_c_message_free_unpacked(job->out, NULL);
    if (job->out2 != NULL)
        protobuf_c_message_free_unpacked(job->out2, NULL);
    if (job->arg_free != NULL)
        job->arg_free(job->arg);
    if (job->window != NULL)
        g_object_unref(job->window);
    job->app->jobs--;
    explicit_bzero(job->s, sizeof(job->s));
    g_free(job);
    return G_SOURCE_REMOVE;
}

static gpointer job_thread(gpointer p)
{
    tray_job_t *job = p;
    ferry_tray_client_t *c = ferry_tray_client_new(job->app->state_dir, &job->err);
    if (c == NULL)
        job->rc = job->err.code != FERRY_OK ? job->err.code : FERRY_E_UNAVAILABLE;
    job->work(job, c);
    ferry_tray_client_free(c);
    g_idle_add(job_finish, job);
    return NULL;
}

void tray_job_run(ferry_tray_app_t *app, GtkWidget *window, void *view, tray_job_work_fn work,
                  tray_job_done_fn done, void *arg, void (*arg_free)(void *))
{
    tray_job_t *job = g_new0(tray_job_t, 1);
    job->app = app;
    job->window = window != NULL ? g_object_ref(window) : NULL;
    job->view = view;
    job->work = work;
    job->done = done;
    job->arg = arg;
    job->arg_free = arg_free;
    app->jobs++;
    g_thread_unref(g_thread_new("ferry-tray-job", job_thread, job));
}

/* ---- status ------------------------------------------------------------------------------------- */

Ferry__V1__AgentStatus *tray_status_dup(const Ferry__V1__AgentStatus *st)
{
    Ferry__V1__AgentStatus *copy = NULL;
    uint8_t *buf = NULL;
    if (st == NULL)
        goto out;
    size_t n = protobuf_c_message_get_packed_size(&st->base);
    if ((buf = g_malloc(n > 0 ? n : 1)) == NULL)
        goto out;
    protobuf_c_message_pack(&st->base, buf);
    copy = ferry__v1__agent_status__unpack(NULL, n, buf);
out:
    g_free(buf);
    return copy;
}

static const char *icon_for(ferry_tray_icon_t icon)
{
    switch (icon) {
    case FERRY_TRAY_ICON_AGENT_DOWN:
        return "action-unavailable-symbolic";
    case FERRY_TRAY_ICON_NOT_BOUND:
        return "dialog-password-symbolic";
    case FERRY_TRAY_ICON_UPDATING:
        return "emblem-synchronizing-symbolic";
    case FERRY_TRAY_ICON_PROMPT_WAITING:
        return "dialog-question-symbolic";
    case FERRY_TRAY_ICON_FAILED:
        return "dialog-error-symbolic";
    case FERRY_TRAY_ICON_OFFLINE:
        return "network-offline-symbolic";
    case FERRY_TRAY_ICON_UPDATE_AVAILABLE:
        return "software-update-available-symbolic";
    case FERRY_TRAY_ICON_IDLE:
    default:
        return "emblem-ok-symbolic";
    }
}

static void notify_done(GObject *src, GAsyncResult *res, gpointer user)
{
    (void)user;
    GError *e = NULL;
    GVariant *v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, &e);
    if (v != NULL)
        g_variant_unref(v);
    if (e != NULL) {
        /* No notification server (a bare X session): the icon and the prompt window still show it. */
        g_message("desktop notification not shown: %s", e->message);
        g_error_free(e);
    }
}

/* org.freedesktop.Notifications.Notify, asynchronously (the main loop never waits). */
static void send_notification(ferry_tray_app_t *app, const char *summary, const char *body)
{
    if (app->bus == NULL)
        return;
    GVariantBuilder hints;
    g_variant_builder_init(&hints, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&hints, "{sv}", "urgency", g_variant_new_byte(1));
    g_variant_builder_add(&hints, "{sv}", "desktop-entry", g_variant_new_string("ferry-tray"));
    g_dbus_connection_call(app->bus, "org.freedesktop.Notifications", "/org/freedesktop/Notifications",
                           "org.freedesktop.Notifications", "Notify",
                           g_variant_new("(susssasa{sv}i)", "Ferry", (guint32)0, "system-software-update",
                                         summary, body, NULL, &hints, (gint32)-1),
                           G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, notify_done, NULL);
    app->notifications++;
}

static void show_status(ferry_tray_app_t *app)
{
    const Ferry__V1__AgentStatus *st = app->status;
    app->icon = ferry_tray_icon_state(st);
    ferry_tray_tooltip(st, app->icon, app->tooltip, sizeof(app->tooltip));
    app->icon_name = icon_for(app->icon);
    if ((size_t)app->icon < G_N_ELEMENTS(app->seen))
        g_strlcpy(app->seen[app->icon], app->tooltip, sizeof(app->seen[0]));
    app_indicator_set_icon_full(app->indicator, app->icon_name, app->tooltip);
    /* StatusNotifierItem has no tooltip through appindicator: the title and the menu's
     * first line carry it, the label the percent while updating. */
    app_indicator_set_title(app->indicator, app->tooltip);
    char pct[16] = "";
    if (app->icon == FERRY_TRAY_ICON_UPDATING && st != NULL && st->current_task != NULL)
        g_snprintf(pct, sizeof(pct), "%u%%", st->current_task->percent);
    app_indicator_set_label(app->indicator, pct, "100%");
    app_indicator_set_status(app->indicator, app->icon == FERRY_TRAY_ICON_PROMPT_WAITING ||
                                                     app->icon == FERRY_TRAY_ICON_FAILED
                                                 ? APP_INDICATOR_STATUS_ATTENTION
                                                 : APP_INDICATOR_STATUS_ACTIVE);
    app_indicator_set_attention_icon_full(app->indicator, app->icon_name, app->tooltip);
    gtk_menu_item_set_label(GTK_MENU_ITEM(app->menu_line), app->tooltip);
    gtk_widget_set_visible(app->menu_bind, app->icon == FERRY_TRAY_ICON_NOT_BOUND);
}

/* One snapshot from the watch thread (NULL: the agent is not reachable). */
typedef struct status_msg {
    ferry_tray_app_t *app;
    Ferry__V1__AgentStatus *st;
    char reason[FERRY_ERR_MSG_MAX + 32]; /* st NULL: why */
} status_msg_t;

static gboolean status_arrived(gpointer p)
{
    status_msg_t *m = p;
    ferry_tray_app_t *app = m->app;
    bool started = ferry_tray_prompt_started(app->status, m->st);
    if (app->status != NULL)
        protobuf_c_message_free_unpacked(&app->status->base, NULL);
    app->status = m->st;
    app->status_known = true;
    g_strlcpy(app->down_reason, m->reason, sizeof(app->down_reason));
    app->status_count++;
    show_status(app);
    if (started) {
        send_notification(
            app, "An optional update waits for your answer",
            "Choose Update now or Later in the Ferry window (it runs by itself at the deadline).");
        if (app->auto_windows)
            ferry_tray_app_open_prompt(app, NULL);
    }
    if (app->auto_windows && !app->bind_offered && app->icon == FERRY_TRAY_ICON_NOT_BOUND) {
        /* First start on an unbound node: the wizard, once. */
        app->bind_offered = true;
        ferry_tray_app_open_bind(app);
    }
    /* A copy of the list: a listener may open or close windows. */
    GList *copy = g_list_copy(app->listeners);
    for (GList *it = copy; it != NULL; it = it->next) {
        tray_listener_t *l = it->data;
        if (g_list_find(app->listeners, l) != NULL)
            l->fn(l->view, app->status);
    }
    g_list_free(copy);
    g_free(m);
    return G_SOURCE_REMOVE;
}

static void post_status(ferry_tray_app_t *app, const Ferry__V1__AgentStatus *st, const ferry_err_t *why)
{
    status_msg_t *m = g_new0(status_msg_t, 1);
    m->app = app;
    m->st = tray_status_dup(st);
    if (st == NULL && why != NULL)
        g_snprintf(m->reason, sizeof(m->reason), "%s: %s", ferry_err_name(why->code), why->msg);
    g_idle_add(status_arrived, m);
}

static int on_watch(const Ferry__V1__AgentStatus *st, void *user)
{
    ferry_tray_app_t *app = user;
    post_status(app, st, NULL);
    g_mutex_lock(&app->mu);
    bool stop = app->stop;
    g_mutex_unlock(&app->mu);
    return stop ? 1 : 0;
}

static gpointer watch_main(gpointer p)
{
    ferry_tray_app_t *app = p;
    for (;;) {
        ferry_err_t err = {0};
        ferry_tray_client_t *c = ferry_tray_client_new(app->state_dir, &err);
        g_mutex_lock(&app->mu);
        if (app->stop) {
            g_mutex_unlock(&app->mu);
            ferry_tray_client_free(c);
            break;
        }
        app->watch_client = c;
        g_mutex_unlock(&app->mu);
        if (c == NULL || ferry_tray_watch(c, on_watch, app, &err) != FERRY_OK)
            post_status(app, NULL, &err); /* agent down (or restarting): the icon says so, and why */
        g_mutex_lock(&app->mu);
        app->watch_client = NULL;
        ferry_tray_client_free(c);
        if (!app->stop) {
            gint64 until = g_get_monotonic_time() + WATCH_RETRY_MS * G_TIME_SPAN_MILLISECOND;
            while (!app->stop && g_cond_wait_until(&app->cond, &app->mu, until))
                ;
        }
        bool stop = app->stop;
        g_mutex_unlock(&app->mu);
        if (stop)
            break;
    }
    return NULL;
}

/* ---- menu actions ------------------------------------------------------------------------------- */

static void check_work(tray_job_t *job, ferry_tray_client_t *c)
{
    Ferry__V1__CheckForUpdatesResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_check_updates(c, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void check_done(tray_job_t *job)
{
    char msg[FERRY_ERR_MSG_MAX + 64];
    if (job->rc != FERRY_OK) {
        g_snprintf(msg, sizeof(msg), "Check for updates: %s: %s", ferry_err_name(job->rc), job->err.msg);
    } else {
        const Ferry__V1__CheckForUpdatesResponse *r = (const void *)job->out;
        const Ferry__V1__PendingUpdate *u = ferry_tray_prompt_pick(r->updates, r->n_updates, NULL);
        g_snprintf(msg, sizeof(msg), "Checked with the server: %zu pending update(s)%s", r->n_updates,
                   u != NULL ? "; one waits for your answer" : "");
        if (u != NULL && u->prompt == FERRY__V1__PROMPT_STATE__PROMPT_STATE_WAITING)
            ferry_tray_app_open_prompt(job->app, u->task->id);
    }
    tray_status_message(job->app, msg);
}

void tray_action_check(ferry_tray_app_t *app)
{
    ferry_tray_app_open_status(app);
    tray_status_message(app, "Checking with the server...");
    tray_job_run(app, NULL, NULL, check_work, check_done, NULL, NULL);
}

static void now_work(tray_job_t *job, ferry_tray_client_t *c)
{
    Ferry__V1__StartManualUpdateResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_update_now(c, "", &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void now_done(tray_job_t *job)
{
    const Ferry__V1__StartManualUpdateResponse *r = (const void *)job->out;
    if (job->rc != FERRY_OK || r->task == NULL) {
        char msg[FERRY_ERR_MSG_MAX + 64];
        g_snprintf(msg, sizeof(msg), "Update now: %s: %s", ferry_err_name(job->rc), job->err.msg);
        ferry_tray_app_open_status(job->app);
        tray_status_message(job->app, msg);
        return;
    }
    ferry_tray_app_open_progress(job->app, r->task->id);
}

void tray_action_update_now(ferry_tray_app_t *app)
{
    tray_job_run(app, NULL, NULL, now_work, now_done, NULL, NULL);
}

static void on_menu(GtkMenuItem *item, gpointer user)
{
    ferry_tray_app_t *app = user;
    const char *n = gtk_widget_get_name(GTK_WIDGET(item));
    if (strcmp(n, "menu-open-status") == 0)
        ferry_tray_app_open_status(app);
    else if (strcmp(n, "menu-check") == 0)
        tray_action_check(app);
    else if (strcmp(n, "menu-update-now") == 0)
        tray_action_update_now(app);
    else if (strcmp(n, "menu-bind") == 0)
        ferry_tray_app_open_bind(app);
    else if (strcmp(n, "menu-settings") == 0)
        ferry_tray_app_open_settings(app);
    else if (strcmp(n, "menu-offline") == 0)
        ferry_tray_app_open_offline(app);
    else if (strcmp(n, "menu-quit") == 0)
        gtk_main_quit();
}

static GtkWidget *menu_item(ferry_tray_app_t *app, const char *name, const char *label)
{
    GtkWidget *it = gtk_menu_item_new_with_mnemonic(label);
    gtk_widget_set_name(it, name);
    g_signal_connect(it, "activate", G_CALLBACK(on_menu), app);
    gtk_menu_shell_append(GTK_MENU_SHELL(app->menu), it);
    gtk_widget_show(it);
    return it;
}

/* ---- the app ------------------------------------------------------------------------------------- */

ferry_tray_app_t *ferry_tray_app_new(const char *state_dir, bool auto_windows)
{
    ferry_tray_app_t *app = g_new0(ferry_tray_app_t, 1);
    app->state_dir = g_strdup(state_dir != NULL ? state_dir : FERRY_TRAY_DEFAULT_STATE_DIR);
    app->auto_windows = auto_windows;
    app->windows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_mutex_init(&app->mu);
    g_cond_init(&app->cond);
    install_css();
    /* No session bus (a bare server console): no notifications, everything else works. */
    app->bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);

    app->menu = gtk_menu_new();
    gtk_widget_set_name(app->menu, "menu");
    app->menu_line = menu_item(app, "menu-status-line", "Ferry: connecting to the agent...");
    gtk_widget_set_sensitive(app->menu_line, FALSE);
    GtkWidget *sep = gtk_separator_menu_item_new();
    gtk_menu_shell_append(GTK_MENU_SHELL(app->menu), sep);
    gtk_widget_show(sep);
    menu_item(app, "menu-open-status", "_Open status");
    menu_item(app, "menu-check", "_Check for updates");
    menu_item(app, "menu-update-now", "_Update now");
    app->menu_bind = menu_item(app, "menu-bind", "_Bind this node...");
    menu_item(app, "menu-settings", "_Settings...");
    menu_item(app, "menu-offline", "Offline _package...");
    sep = gtk_separator_menu_item_new();
    gtk_menu_shell_append(GTK_MENU_SHELL(app->menu), sep);
    gtk_widget_show(sep);
    menu_item(app, "menu-quit", "_Quit");
    g_object_ref_sink(app->menu);

    app->icon = FERRY_TRAY_ICON_AGENT_DOWN;
    app->icon_name = icon_for(app->icon);
    g_snprintf(app->tooltip, sizeof(app->tooltip), "Ferry: connecting to the agent...");
    app->indicator =
        app_indicator_new("ferry-tray", app->icon_name, APP_INDICATOR_CATEGORY_APPLICATION_STATUS);
    app_indicator_set_menu(app->indicator, GTK_MENU(app->menu));
    app_indicator_set_title(app->indicator, app->tooltip);
    app_indicator_set_status(app->indicator, APP_INDICATOR_STATUS_ACTIVE);

    app->watch = g_thread_new("ferry-tray-watch", watch_main, app);
    return app;
}

static void close_window(gpointer key, gpointer value, gpointer user)
{
    (void)key;
    GList **l = user;
    *l = g_list_prepend(*l, value);
}

void ferry_tray_app_free(ferry_tray_app_t *app)
{
    if (app == NULL)
        return;
    g_mutex_lock(&app->mu);
    app->stop = true;
    if (app->watch_client != NULL)
        ferry_tray_client_cancel(app->watch_client);
    g_cond_broadcast(&app->cond);
    g_mutex_unlock(&app->mu);
    g_thread_join(app->watch);
    /* Jobs and queued snapshots finish on this loop; they reference the app. */
    while (app->jobs > 0 || g_main_context_pending(NULL))
        g_main_context_iteration(NULL, TRUE);
    GList *wins = NULL;
    g_hash_table_foreach(app->windows, close_window, &wins);
    for (GList *it = wins; it != NULL; it = it->next)
        gtk_widget_destroy(it->data);
    g_list_free(wins);
    while (g_main_context_pending(NULL))
        g_main_context_iteration(NULL, FALSE);
    g_list_free_full(app->listeners, g_free);
    g_hash_table_destroy(app->windows);
    if (app->status != NULL)
        protobuf_c_message_free_unpacked(&app->status->base, NULL);
    g_object_unref(app->indicator);
    gtk_widget_destroy(app->menu);
    g_object_unref(app->menu);
    if (app->bus != NULL)
        g_object_unref(app->bus);
    g_mutex_clear(&app->mu);
    g_cond_clear(&app->cond);
    g_free(app->state_dir);
    g_free(app);
}

GtkWidget *ferry_tray_app_menu(ferry_tray_app_t *app)
{
    return app->menu;
}

ferry_tray_icon_t ferry_tray_app_icon(const ferry_tray_app_t *app)
{
    return app->icon;
}

const char *ferry_tray_app_tooltip(const ferry_tray_app_t *app)
{
    return app->tooltip;
}

const char *ferry_tray_app_tooltip_seen(const ferry_tray_app_t *app, ferry_tray_icon_t icon)
{
    return (size_t)icon < G_N_ELEMENTS(app->seen) ? app->seen[icon] : "";
}

const char *ferry_tray_app_icon_name(const ferry_tray_app_t *app)
{
    return app->icon_name;
}

unsigned ferry_tray_app_status_count(const ferry_tray_app_t *app)
{
    return app->status_count;
}

unsigned ferry_tray_app_notifications(const ferry_tray_app_t *app)
{
    return app->notifications;
}

/* One window per name: a second open raises the first. */
static GtkWidget *raise_or(ferry_tray_app_t *app, const char *name, GtkWidget *(*make)(ferry_tray_app_t *))
{
    GtkWidget *w = ferry_tray_app_window(app, name);
    if (w == NULL)
        w = make(app);
    gtk_window_present(GTK_WINDOW(w));
    return w;
}

GtkWidget *ferry_tray_app_open_status(ferry_tray_app_t *app)
{
    return raise_or(app, "win-status", tray_status_window);
}

GtkWidget *ferry_tray_app_open_bind(ferry_tray_app_t *app)
{
    return raise_or(app, "win-bind", tray_bind_window);
}

GtkWidget *ferry_tray_app_open_settings(ferry_tray_app_t *app)
{
    return raise_or(app, "win-settings", tray_settings_window);
}

GtkWidget *ferry_tray_app_open_offline(ferry_tray_app_t *app)
{
    return raise_or(app, "win-offline", tray_offline_window);
}

GtkWidget *ferry_tray_app_open_prompt(ferry_tray_app_t *app, const char *task_id)
{
    GtkWidget *w = ferry_tray_app_window(app, "win-prompt");
    if (w != NULL && task_id != NULL && task_id[0] != '\0' &&
        g_strcmp0(g_object_get_data(G_OBJECT(w), "ferry-task"), task_id) != 0) {
        gtk_widget_destroy(w);
        w = NULL;
    }
    if (w == NULL)
        w = tray_prompt_window(app, task_id);
    gtk_window_present(GTK_WINDOW(w));
    return w;
}

GtkWidget *ferry_tray_app_open_progress(ferry_tray_app_t *app, const char *task_id)
{
    GtkWidget *w = ferry_tray_app_window(app, "win-progress");
    /* A window following another (finished) task gives way to the new one. */
    if (w != NULL && g_strcmp0(g_object_get_data(G_OBJECT(w), "ferry-task"), task_id) != 0) {
        gtk_widget_destroy(w);
        w = NULL;
    }
    if (w == NULL)
        w = tray_progress_window(app, task_id);
    gtk_window_present(GTK_WINDOW(w));
    return w;
}

/* SIGTERM / SIGINT (logout, systemctl --user stop): leave the loop, stop the watch, exit 0. */
static gboolean on_signal(gpointer user)
{
    (void)user;
    gtk_main_quit();
    return G_SOURCE_REMOVE;
}

int ferry_tray_gtk_main(const char *state_dir)
{
    int argc = 1;
    char *argv0[] = {(char *)"ferry-tray", NULL};
    char **argv = argv0;
    if (!gtk_init_check(&argc, &argv)) {
        fprintf(stderr,
                "ferry-tray: cannot open the display (use the terminal commands: ferry-tray --help)\n");
        return 2;
    }
    g_set_prgname("ferry-tray");
    g_set_application_name("Ferry");
    ferry_tray_app_t *app = ferry_tray_app_new(state_dir, true);
    g_unix_signal_add(SIGTERM, on_signal, NULL);
    g_unix_signal_add(SIGINT, on_signal, NULL);
    g_message("watching the agent of %s", app->state_dir);
    gtk_main();
    ferry_tray_app_free(app);
    return 0;
}
