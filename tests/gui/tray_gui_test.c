/*
 * ferry-tray's windows against a real `ferry-agent run` (and through it a real ferryd),
 * driven by widget name in this process, one phase per run (tests/integration/
 * tray_gui_test.sh runs the phases under Xvfb and checks the server between them):
 *
 *   tray_gui_test --state-dir S --shots DIR bind SERVER NODE TOKEN_FILE
 *   tray_gui_test --state-dir S --shots DIR settings NODE_CONFIG_JSON
 *   tray_gui_test --state-dir S --shots DIR prompt-defer VERSION
 *   tray_gui_test --state-dir S --shots DIR prompt-now VERSION
 *   tray_gui_test --state-dir S --shots DIR offline TAMPERED.zip PACKAGE.zip MANIFEST VERSION
 *   tray_gui_test --state-dir S --shots DIR prompt-fail VERSION
 *   tray_gui_test --state-dir S --shots DIR agent-restart
 *   tray_gui_test --state-dir S --shots DIR prompt-deadline VERSION
 *
 * Each phase asserts what the windows show and what the agent then reports (over its
 * LocalService, the same client the tray uses) and saves a PNG of each window in DIR.
 * Exit 0 passed, 1 failed (the reason on stderr), 77 skipped (no display).
 */
#include <gtk/gtk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/tray/client.h"
#include "ferry/tray/presenter.h"
#include "gtk/views.h"

static const char *g_state_dir;
static const char *g_shots;
static ferry_tray_app_t *g_app;

#define FAIL(...)                                                                                            \
    do {                                                                                                     \
        fprintf(stderr, "FAIL: " __VA_ARGS__);                                                               \
        fprintf(stderr, "\n");                                                                               \
        exit(1);                                                                                             \
    } while (0)

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[gui] ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* ---- driving the loop ----------------------------------------------------------------------- */

typedef bool (*cond_fn)(void *arg);

/* Runs the main loop until |cond| holds; fails naming |what| after |secs|. */
static void wait_for(cond_fn cond, void *arg, int secs, const char *what)
{
    gint64 end = g_get_monotonic_time() + (gint64)secs * G_TIME_SPAN_SECOND;
    while (!cond(arg)) {
        if (g_get_monotonic_time() > end)
            FAIL("timed out after %d s waiting for %s", secs, what);
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(10 * 1000);
    }
}

/* Lets the loop run for |ms| (layout, drawing). */
static void settle(int ms)
{
    gint64 end = g_get_monotonic_time() + (gint64)ms * G_TIME_SPAN_MILLISECOND;
    while (g_get_monotonic_time() < end) {
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(10 * 1000);
    }
}

static GtkWidget *need(GtkWidget *root, const char *name)
{
    GtkWidget *w = ferry_tray_gtk_find(root, name);
    if (w == NULL)
        FAIL("no widget named '%s' in %s", name, root != NULL ? gtk_widget_get_name(root) : "(none)");
    return w;
}

static const char *text_of(GtkWidget *root, const char *name)
{
    return gtk_label_get_text(GTK_LABEL(need(root, name)));
}

typedef struct label_has {
    GtkWidget *root;
    const char *name;
    const char *needle;
} label_has_t;

static bool label_has(void *p)
{
    label_has_t *l = p;
    GtkWidget *w = ferry_tray_gtk_find(l->root, l->name);
    return w != NULL && strstr(gtk_label_get_text(GTK_LABEL(w)), l->needle) != NULL;
}

static void wait_label(GtkWidget *root, const char *name, const char *needle, int secs)
{
    label_has_t l = {root, name, needle};
    char what[256];
    g_snprintf(what, sizeof(what), "'%s' in %s", needle, name);
    gint64 end = g_get_monotonic_time() + (gint64)secs * G_TIME_SPAN_SECOND;
    while (!label_has(&l)) {
        if (g_get_monotonic_time() > end)
            FAIL("timed out after %d s waiting for %s (it says: '%s')", secs, what,
                 ferry_tray_gtk_find(root, name) != NULL ? text_of(root, name) : "(no widget)");
        while (g_main_context_iteration(NULL, FALSE))
            ;
        g_usleep(10 * 1000);
    }
}

static bool sensitive(void *p)
{
    return gtk_widget_is_sensitive(GTK_WIDGET(p));
}

typedef struct win_named {
    const char *name;
} win_named_t;

static bool window_open(void *p)
{
    return ferry_tray_app_window(g_app, ((win_named_t *)p)->name) != NULL;
}

static GtkWidget *wait_window(const char *name, int secs)
{
    win_named_t w = {name};
    wait_for(window_open, &w, secs, name);
    return ferry_tray_app_window(g_app, name);
}

static void set_entry(GtkWidget *root, const char *name, const char *text)
{
    gtk_entry_set_text(GTK_ENTRY(need(root, name)), text);
}

static void click(GtkWidget *root, const char *name)
{
    GtkWidget *b = need(root, name);
    if (!gtk_widget_is_sensitive(b) || !gtk_widget_get_visible(b))
        FAIL("button %s is not clickable", name);
    gtk_button_clicked(GTK_BUTTON(b));
}

/* A PNG of |win| as GTK draws it (no window manager on Xvfb: no decorations). */
static void shot(GtkWidget *win, const char *file)
{
    char path[1024];
    settle(300);
    int w = gtk_widget_get_allocated_width(win), h = gtk_widget_get_allocated_height(win);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(s);
    gtk_widget_draw(win, cr);
    cairo_destroy(cr);
    g_snprintf(path, sizeof(path), "%s/%s", g_shots, file);
    if (cairo_surface_write_to_png(s, path) != CAIRO_STATUS_SUCCESS)
        FAIL("cannot write %s", path);
    cairo_surface_destroy(s);
    note("screenshot %s (%dx%d)", path, w, h);
}

/* ---- the agent, as the tray's client sees it ---------------------------------------------------- */

static Ferry__V1__AgentStatus *agent_status(void)
{
    ferry_err_t err = {0};
    Ferry__V1__AgentStatus *st = NULL;
    ferry_tray_client_t *c = ferry_tray_client_new(g_state_dir, &err);
    if (c == NULL || ferry_tray_get_status(c, &st, &err) != FERRY_OK)
        FAIL("GetStatus: %s: %s", ferry_err_name(err.code), err.msg);
    ferry_tray_client_free(c);
    return st;
}

static Ferry__V1__PendingUpdate *pending(const char *version, Ferry__V1__ListPendingUpdatesResponse **keep)
{
    ferry_err_t err = {0};
    ferry_tray_client_t *c = ferry_tray_client_new(g_state_dir, &err);
    if (c == NULL || ferry_tray_list_updates(c, keep, &err) != FERRY_OK)
        FAIL("ListPendingUpdates: %s: %s", ferry_err_name(err.code), err.msg);
    ferry_tray_client_free(c);
    for (size_t i = 0; i < (*keep)->n_updates; i++)
        if ((*keep)->updates[i]->task != NULL &&
            strcmp((*keep)->updates[i]->task->package_version, version) == 0)
            return (*keep)->updates[i];
    return NULL;
}

static bool status_seen(void *p)
{
    (void)p;
    return ferry_tray_app_status_count(g_app) > 0;
}

typedef struct icon_is {
    ferry_tray_icon_t icon;
} icon_is_t;

static bool icon_is(void *p)
{
    return ferry_tray_app_icon(g_app) == ((icon_is_t *)p)->icon;
}

static bool icon_not_bound_gone(void *p)
{
    (void)p;
    ferry_tray_icon_t i = ferry_tray_app_icon(g_app);
    return i != FERRY_TRAY_ICON_NOT_BOUND && i != FERRY_TRAY_ICON_AGENT_DOWN;
}

/* ---- desktop notifications: this process owns org.freedesktop.Notifications ----------------------- */

static unsigned g_notify_calls;
static char g_notify_summary[256];

static void notify_call(GDBusConnection *conn, const gchar *sender, const gchar *path, const gchar *iface,
                        const gchar *method, GVariant *params, GDBusMethodInvocation *inv, gpointer user)
{
    (void)conn, (void)sender, (void)path, (void)iface, (void)user;
    if (strcmp(method, "Notify") == 0) {
        const char *summary = NULL;
        g_variant_get_child(params, 3, "&s", &summary);
        g_strlcpy(g_notify_summary, summary != NULL ? summary : "", sizeof(g_notify_summary));
        g_notify_calls++;
        g_dbus_method_invocation_return_value(inv, g_variant_new("(u)", g_notify_calls));
    } else if (strcmp(method, "GetCapabilities") == 0) {
        const char *caps[] = {"body", NULL};
        g_dbus_method_invocation_return_value(inv, g_variant_new("(^as)", caps));
    } else {
        g_dbus_method_invocation_return_value(inv,
                                              g_variant_new("(ssss)", "tray_gui_test", "ferry", "1", "1.2"));
    }
}

static bool g_notify_owned;

static void name_acquired(GDBusConnection *c, const gchar *name, gpointer user)
{
    (void)c, (void)name, (void)user;
    g_notify_owned = true;
}

static bool notify_ready(void *p)
{
    (void)p;
    return g_notify_owned;
}

/* Whether a session bus is there to receive the tray's notification. */
static bool own_notifications(void)
{
    static const char xml[] =
        "<node><interface name='org.freedesktop.Notifications'>"
        "<method name='Notify'><arg type='s' direction='in'/><arg type='u' direction='in'/>"
        "<arg type='s' direction='in'/><arg type='s' direction='in'/><arg type='s' direction='in'/>"
        "<arg type='as' direction='in'/><arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
        "<arg type='u' direction='out'/></method>"
        "<method name='GetCapabilities'><arg type='as' direction='out'/></method>"
        "<method name='GetServerInformation'><arg type='s' direction='out'/><arg type='s' direction='out'/>"
        "<arg type='s' direction='out'/><arg type='s' direction='out'/></method>"
        "</interface></node>";
    static const GDBusInterfaceVTable vt = {notify_call, NULL, NULL, {0}};
    GDBusConnection *bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, NULL);
    if (bus == NULL)
        return false;
    GDBusNodeInfo *info = g_dbus_node_info_new_for_xml(xml, NULL);
    g_dbus_connection_register_object(bus, "/org/freedesktop/Notifications", info->interfaces[0], &vt, NULL,
                                      NULL, NULL);
    g_bus_own_name_on_connection(bus, "org.freedesktop.Notifications", G_BUS_NAME_OWNER_FLAGS_NONE,
                                 name_acquired, NULL, NULL, NULL);
    wait_for(notify_ready, NULL, 10, "owning org.freedesktop.Notifications");
    g_dbus_node_info_unref(info);
    return true;
}

/* ---- phases ------------------------------------------------------------------------------------------- */

static int phase_bind(const char *server, const char *node, const char *token_file)
{
    char *token = NULL;
    if (!g_file_get_contents(token_file, &token, NULL, NULL))
        FAIL("cannot read %s", token_file);
    g_strstrip(token);
    g_app = ferry_tray_app_new(g_state_dir, true);
    /* First start on an unbound node: the wizard opens by itself. */
    GtkWidget *w = wait_window("win-bind", 20);
    icon_is_t nb = {FERRY_TRAY_ICON_NOT_BOUND};
    wait_for(icon_is, &nb, 10, "the not-bound icon");
    note("icon: %s (%s) - %s", ferry_tray_icon_name(ferry_tray_app_icon(g_app)),
         ferry_tray_app_icon_name(g_app), ferry_tray_app_tooltip(g_app));
    GtkWidget *menu = ferry_tray_app_menu(g_app);
    static const char *const items[] = {"menu-open-status", "menu-check", "menu-update-now", "menu-settings",
                                        "menu-offline",     "menu-quit",  "menu-bind"};
    for (size_t i = 0; i < G_N_ELEMENTS(items); i++)
        need(menu, items[i]);
    if (!gtk_widget_get_visible(need(menu, "menu-bind")))
        FAIL("menu-bind hidden on an unbound node");

    /* Bad input: refused on its field before anything is sent. */
    set_entry(w, "bind-server", server);
    set_entry(w, "bind-node", node);
    set_entry(w, "bind-token", "wrong-token");
    gtk_combo_box_set_active(GTK_COMBO_BOX(need(w, "bind-env")), -1);
    click(w, "bind-submit");
    wait_label(w, "bind-env-error", "E_INVALID_ARG: environment", 5);
    if (gtk_entry_get_visibility(GTK_ENTRY(need(w, "bind-token"))))
        FAIL("the token entry is not masked");

    /* A wrong token: the server's answer on the token field, nothing stored. */
    gtk_combo_box_set_active_id(GTK_COMBO_BOX(need(w, "bind-env")), "PROD");
    click(w, "bind-submit");
    wait_label(w, "bind-token-error", "E_AUTH_INVALID", 30);
    if (gtk_widget_get_visible(need(w, "bind-env-error")))
        FAIL("the env error stayed after it was fixed");
    shot(w, "tray-bind-refused.png");
    Ferry__V1__AgentStatus *st = agent_status();
    if (st->bound)
        FAIL("a refused bind bound the agent");
    protobuf_c_message_free_unpacked(&st->base, NULL);
    char path[1024];
    struct stat sb;
    g_snprintf(path, sizeof(path), "%s/token", g_state_dir);
    if (stat(path, &sb) == 0)
        FAIL("a refused bind stored %s", path);

    /* The right token. */
    set_entry(w, "bind-token", token);
    click(w, "bind-submit");
    wait_label(w, "bind-result", "Bound to", 30);
    if (gtk_entry_get_text(GTK_ENTRY(need(w, "bind-token")))[0] != '\0')
        FAIL("the token stayed in the entry after the bind");
    if (strstr(text_of(w, "bind-result"), token) != NULL)
        FAIL("the token is shown");
    shot(w, "tray-bind.png");
    wait_for(icon_not_bound_gone, NULL, 30, "the icon to leave not-bound");
    st = agent_status();
    if (!st->bound || strcmp(st->node_code, node) != 0)
        FAIL("the agent is not bound as %s", node);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    note("bound: icon %s - %s", ferry_tray_icon_name(ferry_tray_app_icon(g_app)),
         ferry_tray_app_tooltip(g_app));
    if (gtk_widget_get_visible(need(menu, "menu-bind")))
        FAIL("menu-bind still shown once bound");

    /* The status window ("Open status" in the menu). */
    gtk_menu_item_activate(GTK_MENU_ITEM(need(menu, "menu-open-status")));
    GtkWidget *sw = wait_window("win-status", 5);
    wait_label(sw, "status-binding", node, 10);
    wait_label(sw, "status-link", "streaming", 30);
    shot(sw, "tray-status.png");
    /* The icon's menu, as a panel shows it (the first line is the tooltip). */
    gtk_menu_popup_at_widget(GTK_MENU(menu), sw, GDK_GRAVITY_NORTH_WEST, GDK_GRAVITY_NORTH_WEST, NULL);
    settle(300);
    if (strcmp(gtk_menu_item_get_label(GTK_MENU_ITEM(need(menu, "menu-status-line"))),
               ferry_tray_app_tooltip(g_app)) != 0)
        FAIL("the menu's first line is not the tooltip");
    if (gtk_widget_get_visible(menu))
        shot(gtk_widget_get_toplevel(menu), "tray-menu.png");
    else
        note("the menu did not pop up (no pointer on this display): no tray-menu.png");
    gtk_menu_popdown(GTK_MENU(menu));
    /* "Update now" with nothing pending: the agent's refusal in the status window, nothing runs. */
    gtk_menu_item_activate(GTK_MENU_ITEM(need(menu, "menu-update-now")));
    wait_label(sw, "status-message", "Update now: E_", 20);
    note("%s", text_of(sw, "status-message"));
    if (ferry_tray_app_window(g_app, "win-progress") != NULL)
        FAIL("Update now with nothing pending opened the progress window");
    explicit_bzero(token, strlen(token));
    g_free(token);
    return 0;
}

static char *file_sha(const char *path)
{
    char *data = NULL;
    gsize n = 0;
    if (!g_file_get_contents(path, &data, &n, NULL))
        FAIL("cannot read %s", path);
    char *h = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, n);
    g_free(data);
    return h;
}

static void set_list(GtkWidget *root, const char *name, const char *text)
{
    gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(need(root, name))), text, -1);
}

static char *get_list(GtkWidget *root, const char *name)
{
    GtkTextBuffer *b = gtk_text_view_get_buffer(GTK_TEXT_VIEW(need(root, name)));
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds(b, &s, &e);
    return gtk_text_buffer_get_text(b, &s, &e, FALSE);
}

static int phase_settings(const char *config_file)
{
    g_app = ferry_tray_app_new(g_state_dir, false);
    wait_for(status_seen, NULL, 10, "the first status");
    gtk_menu_item_activate(GTK_MENU_ITEM(need(ferry_tray_app_menu(g_app), "menu-settings")));
    GtkWidget *w = wait_window("win-settings", 5);
    wait_for(sensitive, need(w, "settings-save"), 20, "the configuration to load");
    /* Every field of seed 000 section 7.3 has its widget and error line. */
    size_t n;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    for (size_t i = 0; i < n; i++) {
        char nm[160];
        g_snprintf(nm, sizeof(nm), "cfg:%s", fs[i].key);
        need(w, nm);
        g_snprintf(nm, sizeof(nm), "cfg-error:%s", fs[i].key);
        need(w, nm);
    }
    if (strcmp(gtk_entry_get_text(GTK_ENTRY(need(w, "cfg:backup.retentionN"))), "5") != 0)
        FAIL("retentionN shows '%s', want 5",
             gtk_entry_get_text(GTK_ENTRY(need(w, "cfg:backup.retentionN"))));
    if (gtk_entry_get_visibility(GTK_ENTRY(need(w, "cfg:backup.db.password"))))
        FAIL("the password entry is not masked");
    char *before = file_sha(config_file);

    /* A value the presenter refuses: on its field, nothing sent, the file unchanged. */
    set_entry(w, "cfg:backup.retentionN", "0");
    set_entry(w, "cfg:service.stopTimeoutSeconds", "lots");
    click(w, "settings-save");
    wait_label(w, "cfg-error:backup.retentionN", "E_INVALID_ARG: backup.retentionN", 5);
    wait_label(w, "cfg-error:service.stopTimeoutSeconds", "service.stopTimeoutSeconds", 5);
    wait_label(w, "settings-status", "nothing was saved", 5);
    shot(w, "tray-settings-refused.png");

    /* A value only the agent refuses (protected path outside the server dir): Validate puts
     * its issue on the field. */
    char *protect = get_list(w, "cfg:paths.protectPaths");
    set_entry(w, "cfg:backup.retentionN", "3");
    set_entry(w, "cfg:service.stopTimeoutSeconds", "45");
    set_list(w, "cfg:paths.protectPaths", "/elsewhere/x");
    click(w, "settings-validate");
    wait_label(w, "cfg-error:paths.protectPaths", "paths.protectPaths", 20);
    if (gtk_widget_get_visible(need(w, "cfg-error:backup.retentionN")))
        FAIL("the fixed retentionN still shows an error");
    click(w, "settings-save");
    wait_label(w, "settings-status", "Not saved", 20);
    char *mid = file_sha(config_file);
    if (strcmp(before, mid) != 0)
        FAIL("a refused save changed %s", config_file);

    /* Fixed: saved with the next version and uploaded. */
    set_list(w, "cfg:paths.protectPaths", protect);
    click(w, "settings-save");
    wait_label(w, "settings-status", "uploaded it to the server", 40);
    wait_label(w, "settings-file", "configVersion 2", 5);
    if (gtk_widget_get_visible(need(w, "cfg-error:paths.protectPaths")))
        FAIL("the fixed protectPaths still shows an error");
    char *after = file_sha(config_file);
    if (strcmp(before, after) == 0)
        FAIL("Save did not write %s", config_file);
    GtkAdjustment *top = gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(need(w, "settings-scroll")));
    gtk_adjustment_set_value(top, gtk_adjustment_get_lower(top));
    shot(w, "tray-settings.png");
    /* The whole page (the window scrolls): every field of seed 000 section 7.3. */
    shot(need(w, "settings-fields"), "tray-settings-fields.png");
    /* A password through its masked entry: the agent stores it, the window shows *** only. */
    gtk_combo_box_set_active_id(GTK_COMBO_BOX(need(w, "cfg:backup.db.engine")), "mssql");
    set_entry(w, "cfg:backup.db.sqlConnectionString", "Server=127.0.0.1;User Id=sa;");
    set_entry(w, "cfg:backup.db.password", "Sup3r;Secret");
    click(w, "settings-save");
    wait_label(w, "settings-file", "configVersion 3", 40);
    wait_label(w, "settings-status", "uploaded it to the server", 40);
    const char *cs = gtk_entry_get_text(GTK_ENTRY(need(w, "cfg:backup.db.sqlConnectionString")));
    if (strstr(cs, "Password=***") == NULL || strstr(cs, "Sup3r") != NULL)
        FAIL("the connection string shows '%s'", cs);
    if (gtk_entry_get_text(GTK_ENTRY(need(w, "cfg:backup.db.password")))[0] != '\0')
        FAIL("the password stayed in its entry after the save");
    char *saved = NULL;
    if (!g_file_get_contents(config_file, &saved, NULL, NULL) || strstr(saved, "Sup3r;Secret") == NULL)
        FAIL("the agent did not store the password in %s", config_file);
    g_free(saved);
    g_free(before);
    g_free(mid);
    g_free(after);
    g_free(protect);
    return 0;
}

static bool notified(void *p)
{
    (void)p;
    return g_notify_calls > 0;
}

static int phase_prompt(const char *version, bool now)
{
    bool bus = own_notifications();
    if (!bus)
        note("no session bus: the notification is counted, not received (run under dbus-run-session)");
    g_app = ferry_tray_app_new(g_state_dir, true);
    GtkWidget *w;
    if (!now) {
        /* The prompt waits: notification and the prompt window, by themselves. */
        w = wait_window("win-prompt", 20);
        icon_is_t pw = {FERRY_TRAY_ICON_PROMPT_WAITING};
        wait_for(icon_is, &pw, 10, "the prompt-waiting icon");
    } else {
        /* Deferred: no prompt waits; the administrator answers early from the status window. */
        icon_is_t ua = {FERRY_TRAY_ICON_UPDATE_AVAILABLE};
        wait_for(icon_is, &ua, 20, "the update-available icon");
        gtk_menu_item_activate(GTK_MENU_ITEM(need(ferry_tray_app_menu(g_app), "menu-open-status")));
        GtkWidget *sw = wait_window("win-status", 5);
        wait_for(sensitive, need(sw, "status-answer"), 10, "the Answer button");
        click(sw, "status-answer");
        w = wait_window("win-prompt", 5);
        wait_label(w, "prompt-result", "Deferred until", 20);
    }
    if (!now && ferry_tray_app_notifications(g_app) != 1)
        FAIL("%u notifications sent, want 1", ferry_tray_app_notifications(g_app));
    if (!now && bus) {
        wait_for(notified, NULL, 10, "the desktop notification");
        note("notification received: '%s'", g_notify_summary);
        if (strstr(g_notify_summary, "waits for your answer") == NULL)
            FAIL("notification summary '%s'", g_notify_summary);
    }
    wait_label(w, "prompt-version", version, 20);
    wait_for(sensitive, need(w, "prompt-now"), 5, "Update now");
    /* The description as the agent has it (the window only shows it). */
    Ferry__V1__ListPendingUpdatesResponse *lr = NULL;
    const Ferry__V1__PendingUpdate *pu = pending(version, &lr);
    if (pu == NULL)
        FAIL("%s is not pending", version);
    const char *want = pu->description[0] ? pu->description : "(no description)";
    if (strcmp(text_of(w, "prompt-description"), want) != 0)
        FAIL("prompt-description '%s', the agent has '%s'", text_of(w, "prompt-description"), want);
    protobuf_c_message_free_unpacked(&lr->base, NULL);
    wait_label(w, "prompt-size", "Download size:", 5);
    wait_label(w, "prompt-deadline", "left (deadline", 5);
    /* Deadline in 2 h: "In 1 hour" as it is, the later ones cut to one "Until the deadline". */
    GtkWidget *l0 = need(w, "prompt-later-0"), *l1 = need(w, "prompt-later-1"),
              *l2 = need(w, "prompt-later-2");
    if (!gtk_widget_get_visible(l0) || strstr(gtk_button_get_label(GTK_BUTTON(l0)), "In 1 hour") == NULL)
        FAIL("prompt-later-0 is '%s'", gtk_button_get_label(GTK_BUTTON(l0)));
    if (!gtk_widget_get_visible(l1) ||
        strstr(gtk_button_get_label(GTK_BUTTON(l1)), "Until the deadline") == NULL)
        FAIL("prompt-later-1 is '%s'", gtk_button_get_label(GTK_BUTTON(l1)));
    if (gtk_widget_get_visible(l2))
        FAIL("prompt-later-2 offered past the deadline: '%s'", gtk_button_get_label(GTK_BUTTON(l2)));
    Ferry__V1__ListPendingUpdatesResponse *keep = NULL;
    if (!now) {
        shot(w, "tray-prompt.png");
        click(w, "prompt-later-0");
        wait_label(w, "prompt-result", "Deferred until", 20);
        Ferry__V1__PendingUpdate *u = pending(version, &keep);
        if (u == NULL || u->prompt != FERRY__V1__PROMPT_STATE__PROMPT_STATE_DEFERRED ||
            u->deferred_until == NULL)
            FAIL("the agent does not show %s deferred", version);
        gint64 left = u->deferred_until->seconds - g_get_real_time() / G_USEC_PER_SEC;
        if (left < 3500 || left > 3610)
            FAIL("deferred for %" G_GINT64_FORMAT " s, want about an hour", left);
        note("deferred for %" G_GINT64_FORMAT " s", left);
        protobuf_c_message_free_unpacked(&keep->base, NULL);
        /* "Check for updates" from the menu: the status window says what the server said. */
        gtk_menu_item_activate(GTK_MENU_ITEM(need(ferry_tray_app_menu(g_app), "menu-check")));
        GtkWidget *sw = wait_window("win-status", 5);
        wait_label(sw, "status-message", "Checked with the server: 1 pending update", 30);
        return 0;
    }
    /* Answered early (it was deferred): Update now, then the progress window to the end. */
    click(w, "prompt-now");
    GtkWidget *pw2 = wait_window("win-progress", 20);
    wait_label(pw2, "progress-title", version, 60);
    wait_label(pw2, "progress-headline", "100 Succeeded", 120);
    /* The icon showed "updating" on the way, with the percent in its tooltip. */
    const char *upd = ferry_tray_app_tooltip_seen(g_app, FERRY_TRAY_ICON_UPDATING);
    note("updating tooltip seen: %s", upd);
    if (upd[0] == '\0' || strchr(upd, '%') == NULL || strstr(upd, version) == NULL)
        FAIL("no updating tooltip with a percent (saw '%s')", upd);
    wait_label(pw2, "progress-backup", "Backup: /", 10);
    wait_label(pw2, "progress-step-100", "\u25b6", 5);
    wait_label(pw2, "progress-step-60", "\u2713", 5);
    shot(pw2, "tray-progress.png");
    Ferry__V1__AgentStatus *st = agent_status();
    if (strcmp(st->installed_version, version) != 0)
        FAIL("installed %s, want %s", st->installed_version, version);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    if (pending(version, &keep) != NULL)
        FAIL("%s still pending after the update", version);
    protobuf_c_message_free_unpacked(&keep->base, NULL);
    icon_is_t idle = {FERRY_TRAY_ICON_IDLE};
    wait_for(icon_is, &idle, 20, "the idle icon");
    /* The status window now tells the outcome: installed version, last update and its backup. */
    GtkWidget *sw = ferry_tray_app_window(g_app, "win-status");
    wait_label(sw, "status-installed", version, 10);
    wait_label(sw, "status-last", "100 Succeeded", 10);
    wait_label(sw, "status-last", "backup: /", 10);
    shot(sw, "tray-status-updated.png");
    return 0;
}

/* An update whose SQL fails: the progress window shows the failed step, the error code
 * and message and the backup it restored; the icon turns to failed. */
static int phase_fail(const char *version)
{
    g_app = ferry_tray_app_new(g_state_dir, true);
    GtkWidget *w = wait_window("win-prompt", 20);
    wait_label(w, "prompt-version", version, 20);
    wait_for(sensitive, need(w, "prompt-now"), 5, "Update now");
    click(w, "prompt-now");
    GtkWidget *pw = wait_window("win-progress", 20);
    wait_label(pw, "progress-error", "E_SQL_FAILED", 120);
    wait_label(pw, "progress-headline", "Rollbacked", 60);
    wait_label(pw, "progress-step-80", "\u2717", 5);
    wait_label(pw, "progress-step-130", "\u25b6", 5);
    wait_label(pw, "progress-step-120", "\u2713", 5);
    wait_label(pw, "progress-backup", "Backup: /", 10);
    icon_is_t failed = {FERRY_TRAY_ICON_FAILED};
    wait_for(icon_is, &failed, 20, "the failed icon");
    note("failed: %s", ferry_tray_app_tooltip(g_app));
    shot(pw, "tray-progress-failed.png");
    Ferry__V1__AgentStatus *st = agent_status();
    if (strcmp(st->installed_version, version) == 0)
        FAIL("a failed update left %s installed", version);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    return 0;
}

/* The agent stops and starts again (new port, new secret): the icon says agent-down, then
 * the tray reconnects by itself. The script restarts the agent after "ready". */
static int phase_restart(void)
{
    g_app = ferry_tray_app_new(g_state_dir, false);
    wait_for(icon_not_bound_gone, NULL, 20, "the agent's status");
    GtkWidget *sw = ferry_tray_app_open_status(g_app);
    wait_label(sw, "status-link", "streaming", 20);
    note("ready");
    icon_is_t down = {FERRY_TRAY_ICON_AGENT_DOWN};
    wait_for(icon_is, &down, 30, "the agent-down icon");
    note("agent down: %s", ferry_tray_app_tooltip(g_app));
    wait_label(sw, "status-link", "the agent is not running or not reachable: E_", 5);
    shot(sw, "tray-status-agent-down.png");
    wait_for(icon_not_bound_gone, NULL, 60, "the tray to reconnect to the restarted agent");
    wait_label(sw, "status-link", "streaming", 30);
    note("reconnected: %s", ferry_tray_app_tooltip(g_app));
    return 0;
}

static bool now_hidden(void *p)
{
    return !gtk_widget_get_visible(need(p, "prompt-now"));
}

/* An optional update whose deadline passes while the window is open: the window says the
 * update runs now and offers no choice; the agent then runs it by itself. */
static int phase_deadline(const char *version)
{
    g_app = ferry_tray_app_new(g_state_dir, true);
    GtkWidget *w = wait_window("win-prompt", 20);
    wait_label(w, "prompt-version", version, 20);
    /* Less than a minute left: no "Later" at all. */
    wait_label(w, "prompt-deadline", "left (deadline", 10);
    for (int i = 0; i < FERRY_TRAY_MAX_DEFER; i++) {
        char n[32];
        g_snprintf(n, sizeof(n), "prompt-later-%d", i);
        if (gtk_widget_get_visible(need(w, n)))
            FAIL("%s offered with under a minute to the deadline", n);
    }
    wait_label(w, "prompt-deadline", "The deadline has passed: the update will run now.", 90);
    wait_for(now_hidden, w, 5, "Update now to go once the deadline passed");
    shot(w, "tray-prompt-deadline.png");
    gint64 end = g_get_monotonic_time() + 180 * G_TIME_SPAN_SECOND;
    for (;;) {
        Ferry__V1__AgentStatus *st = agent_status();
        bool done = strcmp(st->installed_version, version) == 0;
        protobuf_c_message_free_unpacked(&st->base, NULL);
        if (done)
            break;
        if (g_get_monotonic_time() > end)
            FAIL("%s not installed after its deadline", version);
        settle(500);
    }
    return 0;
}

static int phase_offline(const char *tampered, const char *package, const char *manifest, const char *version)
{
    g_app = ferry_tray_app_new(g_state_dir, false);
    wait_for(status_seen, NULL, 10, "the first status");
    gtk_menu_item_activate(GTK_MENU_ITEM(need(ferry_tray_app_menu(g_app), "menu-offline")));
    GtkWidget *w = wait_window("win-offline", 5);
    /* Nothing chosen: both fields say so, nothing sent. */
    click(w, "offline-apply");
    wait_label(w, "offline-package-error", "E_INVALID_ARG", 5);
    wait_label(w, "offline-manifest-error", "E_INVALID_ARG", 5);
    /* A tampered zip: refused on the package field before anything changes. */
    set_entry(w, "offline-package", tampered);
    set_entry(w, "offline-manifest", manifest);
    click(w, "offline-apply");
    wait_label(w, "offline-package-error", "E_HASH_MISMATCH", 30);
    wait_label(w, "offline-result", "Refused before anything was changed", 5);
    if (ferry_tray_app_window(g_app, "win-progress") != NULL)
        FAIL("a refused package opened the progress window");
    Ferry__V1__AgentStatus *st = agent_status();
    if (strcmp(st->installed_version, version) == 0)
        FAIL("the tampered package was installed");
    protobuf_c_message_free_unpacked(&st->base, NULL);
    shot(w, "tray-offline-refused.png");
    set_entry(w, "offline-package", package);
    if (gtk_widget_get_visible(need(w, "offline-package-error")))
        FAIL("the tampered zip's refusal stayed after choosing another file");
    settle(100);
    shot(w, "tray-offline.png");
    click(w, "offline-apply");
    GtkWidget *pw = wait_window("win-progress", 30);
    wait_label(w, "offline-result", "verified", 10);
    wait_label(pw, "progress-headline", "100 Succeeded", 120);
    wait_label(pw, "progress-title", version, 5);
    wait_label(pw, "progress-backup", "Backup: /", 10);
    shot(pw, "tray-offline-progress.png");
    st = agent_status();
    if (strcmp(st->installed_version, version) != 0)
        FAIL("installed %s after the offline package, want %s", st->installed_version, version);
    protobuf_c_message_free_unpacked(&st->base, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    while (i + 1 < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--state-dir") == 0)
            g_state_dir = argv[i + 1];
        else if (strcmp(argv[i], "--shots") == 0)
            g_shots = argv[i + 1];
        i += 2;
    }
    if (g_state_dir == NULL || g_shots == NULL || i >= argc) {
        fprintf(stderr, "usage: tray_gui_test --state-dir S --shots DIR PHASE ARGS...\n");
        return 2;
    }
    if (!gtk_init_check(NULL, NULL)) {
        printf("SKIP: cannot open the display '%s' (run under Xvfb)\n",
               getenv("DISPLAY") ? getenv("DISPLAY") : "");
        return 77;
    }
    const char *phase = argv[i];
    char **a = argv + i + 1;
    int na = argc - i - 1, rc = 2;
    note("phase %s", phase);
    if (strcmp(phase, "bind") == 0 && na == 3)
        rc = phase_bind(a[0], a[1], a[2]);
    else if (strcmp(phase, "settings") == 0 && na == 1)
        rc = phase_settings(a[0]);
    else if (strcmp(phase, "prompt-defer") == 0 && na == 1)
        rc = phase_prompt(a[0], false);
    else if (strcmp(phase, "prompt-now") == 0 && na == 1)
        rc = phase_prompt(a[0], true);
    else if (strcmp(phase, "agent-restart") == 0 && na == 0)
        rc = phase_restart();
    else if (strcmp(phase, "prompt-fail") == 0 && na == 1)
        rc = phase_fail(a[0]);
    else if (strcmp(phase, "prompt-deadline") == 0 && na == 1)
        rc = phase_deadline(a[0]);
    else if (strcmp(phase, "offline") == 0 && na == 4)
        rc = phase_offline(a[0], a[1], a[2], a[3]);
    else
        fprintf(stderr, "tray_gui_test: unknown phase or wrong arguments: %s\n", phase);
    ferry_tray_app_free(g_app);
    if (rc == 0)
        note("phase %s passed", phase);
    return rc;
}
