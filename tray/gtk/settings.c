/*
 * Settings: every node configuration field of seed 000 §7.3 (the presenter's table),
 * one widget per field named cfg:<key>, its error line cfg-error:<key>. Save parses each
 * field with the presenter (errors on their field, nothing sent), then SaveNodeConfig
 * (the agent validates, writes, uploads); the agent's issues land on their field too.
 * The connection string shows the agent's masked copy; the password has its own masked
 * entry (empty keeps the stored one).
 */
#include <string.h>

#include "gtk/internal.h"

#define UPLOAD_WAIT_S 20
#define MAX_FIELDS    64
#define VALUE_MAX     8192

typedef struct settings_view {
    ferry_tray_app_t *app;
    GtkWidget *win;
    GtkWidget *input[MAX_FIELDS];
    GtkWidget *error[MAX_FIELDS];
    GtkWidget *password, *file, *status, *save, *validate;
    Ferry__V1__NodeConfig *loaded; /* as the agent sent it (password masked) */
} settings_view_t;

static void settings_free(void *p)
{
    settings_view_t *v = p;
    if (v->loaded != NULL)
        protobuf_c_message_free_unpacked(&v->loaded->base, NULL);
    g_free(v);
}

/* ---- widget <-> text ------------------------------------------------------------------------- */

static char *widget_text(const ferry_tray_field_t *f, GtkWidget *w)
{
    switch (f->kind) {
    case FERRY_TRAY_FIELD_BOOL:
        return g_strdup(gtk_toggle_button_get_active(GTK_TOGGLE_BUTTON(w)) ? "true" : "false");
    case FERRY_TRAY_FIELD_CHOICE: {
        const char *id = gtk_combo_box_get_active_id(GTK_COMBO_BOX(w));
        return g_strdup(id != NULL ? id : "");
    }
    case FERRY_TRAY_FIELD_LIST: {
        GtkTextBuffer *b = gtk_text_view_get_buffer(GTK_TEXT_VIEW(w));
        GtkTextIter s, e;
        gtk_text_buffer_get_bounds(b, &s, &e);
        return gtk_text_buffer_get_text(b, &s, &e, FALSE);
    }
    default:
        return g_strdup(gtk_entry_get_text(GTK_ENTRY(w)));
    }
}

static void widget_set(const ferry_tray_field_t *f, GtkWidget *w, const char *text)
{
    switch (f->kind) {
    case FERRY_TRAY_FIELD_BOOL:
        gtk_toggle_button_set_active(GTK_TOGGLE_BUTTON(w), strcmp(text, "true") == 0);
        break;
    case FERRY_TRAY_FIELD_CHOICE:
        gtk_combo_box_set_active_id(GTK_COMBO_BOX(w), text);
        break;
    case FERRY_TRAY_FIELD_LIST:
        gtk_text_buffer_set_text(gtk_text_view_get_buffer(GTK_TEXT_VIEW(w)), text, -1);
        break;
    default:
        gtk_entry_set_text(GTK_ENTRY(w), text);
        break;
    }
}

static GtkWidget *widget_new(const ferry_tray_field_t *f)
{
    GtkWidget *w;
    switch (f->kind) {
    case FERRY_TRAY_FIELD_BOOL:
        w = gtk_check_button_new_with_label(f->label);
        break;
    case FERRY_TRAY_FIELD_CHOICE:
        w = gtk_combo_box_text_new();
        for (const char *const *c = f->choices; c != NULL && *c != NULL; c++)
            gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(w), *c, *c);
        break;
    case FERRY_TRAY_FIELD_LIST:
        w = gtk_text_view_new();
        gtk_text_view_set_monospace(GTK_TEXT_VIEW(w), TRUE);
        gtk_widget_set_size_request(w, -1, 48);
        break;
    default:
        w = gtk_entry_new();
        gtk_entry_set_width_chars(GTK_ENTRY(w), 48);
        break;
    }
    char name[160];
    g_snprintf(name, sizeof(name), "cfg:%s", f->key);
    gtk_widget_set_name(w, name);
    gtk_widget_set_hexpand(w, TRUE);
    return w;
}

/* Fills the widgets from |c| (the agent's copy). */
static void fill(settings_view_t *v, const Ferry__V1__NodeConfig *c)
{
    size_t n;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    char *val = g_malloc(VALUE_MAX);
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        if (ferry_tray_config_get(c, fs[i].key, "\n", val, VALUE_MAX, NULL) != FERRY_OK)
            val[0] = '\0';
        widget_set(&fs[i], v->input[i], val);
        tray_error_set(v->error[i], "");
    }
    gtk_entry_set_text(GTK_ENTRY(v->password), "");
    g_free(val);
}

static void clear_errors(settings_view_t *v)
{
    size_t n;
    ferry_tray_fields(&n);
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        tray_error_set(v->error[i], "");
        gtk_style_context_remove_class(gtk_widget_get_style_context(v->error[i]), "ferry-warning");
    }
}

/* Shows the agent's issues on their fields; returns how many were blocking. */
static size_t show_issues(settings_view_t *v, Ferry__V1__ConfigIssue *const *issues, size_t n_issues,
                          GString *general)
{
    size_t n, blocking = 0;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    for (size_t k = 0; k < n_issues; k++) {
        const Ferry__V1__ConfigIssue *is = issues[k];
        const ferry_tray_field_t *f = ferry_tray_issue_field(is->field);
        char msg[1024];
        g_snprintf(msg, sizeof(msg), "%s%s%s%s", is->blocking ? "E_INVALID_ARG: " : "warning: ", is->field,
                   is->field[0] ? ": " : "", is->message);
        if (is->blocking)
            blocking++;
        if (f == NULL) {
            g_string_append_printf(general, "\n%s", msg);
            continue;
        }
        size_t i = (size_t)(f - fs);
        if (is->blocking && blocking == 1)
            gtk_widget_grab_focus(v->input[i]);
        /* Several issues on one field: one line each. */
        const char *prev = gtk_label_get_text(GTK_LABEL(v->error[i]));
        char *text = prev[0] ? g_strdup_printf("%s\n%s", prev, msg) : g_strdup(msg);
        tray_error_set(v->error[i], text);
        g_free(text);
        if (!is->blocking && !prev[0])
            gtk_style_context_add_class(gtk_widget_get_style_context(v->error[i]), "ferry-warning");
        else
            gtk_style_context_remove_class(gtk_widget_get_style_context(v->error[i]), "ferry-warning");
    }
    return blocking;
}

/*
 * The configuration the page shows: the loaded one with every field parsed from its
 * widget. NULL when a field does not parse: each such field shows its error.
 */
static Ferry__V1__NodeConfig *collect(settings_view_t *v)
{
    size_t n, bad = 0;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    Ferry__V1__NodeConfig *cfg = ferry_tray_config_dup(v->loaded);
    if (cfg == NULL) {
        tray_label_set(v->status, "E_NOMEM: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        ferry_err_t err = {0};
        char *text = widget_text(&fs[i], v->input[i]);
        if (ferry_tray_config_set(cfg, fs[i].key, text, &err) != FERRY_OK) {
            char msg[FERRY_ERR_MSG_MAX + 32];
            g_snprintf(msg, sizeof(msg), "%s: %s", ferry_err_name(err.code), err.msg);
            tray_error_set(v->error[i], msg);
            /* The first bad field comes into view (the page scrolls). */
            if (bad++ == 0)
                gtk_widget_grab_focus(v->input[i]);
        }
        g_free(text);
    }
    const char *pw = gtk_entry_get_text(GTK_ENTRY(v->password));
    if (bad == 0 && pw[0] != '\0') {
        const ferry_tray_field_t *cf = ferry_tray_field_find("backup.db.sqlConnectionString");
        size_t ci = (size_t)(cf - fs);
        char cs[VALUE_MAX] = "";
        ferry_err_t err = {0};
        (void)ferry_tray_config_get(cfg, cf->key, "", cs, sizeof(cs), NULL);
        char *next = ferry_tray_connstr_set_password(cs, pw, &err);
        if (next == NULL || ferry_tray_config_set(cfg, cf->key, next, &err) != FERRY_OK) {
            char msg[FERRY_ERR_MSG_MAX + 32];
            g_snprintf(msg, sizeof(msg), "%s: %s", ferry_err_name(err.code), err.msg);
            tray_error_set(v->error[ci], msg);
            bad++;
        }
        if (next != NULL) {
            explicit_bzero(next, strlen(next));
            free(next);
        }
        explicit_bzero(cs, sizeof(cs));
    }
    if (bad > 0) {
        char msg[128];
        g_snprintf(msg, sizeof(msg), "%zu field(s) marked in red are not valid; nothing was saved.", bad);
        tray_label_set(v->status, msg);
        protobuf_c_message_free_unpacked(&cfg->base, NULL);
        return NULL;
    }
    return cfg;
}

/* ---- calls --------------------------------------------------------------------------------------- */

static void load_work(tray_job_t *job, ferry_tray_client_t *c)
{
    Ferry__V1__GetLocalNodeConfigResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_get_config(c, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void show_file(settings_view_t *v, const Ferry__V1__GetLocalNodeConfigResponse *r)
{
    char when[64] = "never";
    if (r->uploaded_at != NULL) {
        GDateTime *d = g_date_time_new_from_unix_local(r->uploaded_at->seconds);
        char *s = g_date_time_format(d, "%Y-%m-%d %H:%M:%S");
        g_snprintf(when, sizeof(when), "version %lld at %s", (long long)r->uploaded_version, s);
        g_free(s);
        g_date_time_unref(d);
    }
    char *t = g_strdup_printf("%s%s - configVersion %lld - uploaded to the server: %s", r->path,
                              r->exists ? "" : " (not written yet: defaults shown)",
                              r->config != NULL ? (long long)r->config->config_version : 0LL, when);
    tray_label_set(v->file, t);
    g_free(t);
}

static void load_done(tray_job_t *job)
{
    settings_view_t *v = job->view;
    if (job->rc != FERRY_OK) {
        char msg[FERRY_ERR_MSG_MAX + 64];
        g_snprintf(msg, sizeof(msg), "Cannot read the configuration: %s: %s", ferry_err_name(job->rc),
                   job->err.msg);
        tray_label_set(v->status, msg);
        return;
    }
    Ferry__V1__GetLocalNodeConfigResponse *r = (void *)job->out;
    if (v->loaded != NULL)
        protobuf_c_message_free_unpacked(&v->loaded->base, NULL);
    v->loaded = ferry_tray_config_dup(r->config);
    show_file(v, r);
    if (v->loaded != NULL)
        fill(v, v->loaded);
    gtk_widget_set_sensitive(v->save, v->loaded != NULL);
    gtk_widget_set_sensitive(v->validate, v->loaded != NULL);
    /* A message from a save stays; a fresh window says what it shows. */
    if (job->b)
        return;
    tray_label_set(v->status, "");
}

static void validate_work(tray_job_t *job, ferry_tray_client_t *c)
{
    Ferry__V1__ValidateNodeConfigResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_validate_config(c, job->arg, true, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void cfg_free(void *p)
{
    if (p != NULL)
        protobuf_c_message_free_unpacked(p, NULL);
}

static void validate_done(tray_job_t *job)
{
    settings_view_t *v = job->view;
    gtk_widget_set_sensitive(v->validate, TRUE);
    gtk_widget_set_sensitive(v->save, TRUE);
    if (job->rc != FERRY_OK) {
        char msg[FERRY_ERR_MSG_MAX + 64];
        g_snprintf(msg, sizeof(msg), "Validate: %s: %s", ferry_err_name(job->rc), job->err.msg);
        tray_label_set(v->status, msg);
        return;
    }
    const Ferry__V1__ValidateNodeConfigResponse *r = (const void *)job->out;
    GString *general = g_string_new(NULL);
    size_t blocking = show_issues(v, r->issues, r->n_issues, general);
    char *t = blocking > 0      ? g_strdup_printf("%zu problem(s) block saving (marked on their fields).%s",
                                                  blocking, general->str)
              : r->n_issues > 0 ? g_strdup_printf("Valid, with %zu warning(s).%s", r->n_issues, general->str)
                                : g_strdup("Valid: the agent accepts this configuration.");
    tray_label_set(v->status, t);
    g_free(t);
    g_string_free(general, TRUE);
}

static void save_work(tray_job_t *job, ferry_tray_client_t *c)
{
    Ferry__V1__SaveNodeConfigResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_save_config(c, job->arg, false, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
    if (job->rc != FERRY_OK || r == NULL || !r->saved || r->config == NULL)
        return;
    /* Uploaded (the agent queues it and sends it at once when the server is reachable)? */
    job->i = r->config->config_version;
    for (int k = 0; k < UPLOAD_WAIT_S * 5 && !job->b; k++) {
        Ferry__V1__GetLocalNodeConfigResponse *g = NULL;
        if (ferry_tray_get_config(c, &g, NULL) == FERRY_OK) {
            job->b = g->uploaded_version >= job->i;
            if (job->b) {
                job->out2 = &g->base;
                break;
            }
            protobuf_c_message_free_unpacked(&g->base, NULL);
        }
        g_usleep(200 * 1000);
    }
    if (job->out2 == NULL) {
        Ferry__V1__GetLocalNodeConfigResponse *g = NULL;
        if (ferry_tray_get_config(c, &g, NULL) == FERRY_OK)
            job->out2 = &g->base;
    }
}

static void save_done(tray_job_t *job)
{
    settings_view_t *v = job->view;
    gtk_widget_set_sensitive(v->validate, TRUE);
    gtk_widget_set_sensitive(v->save, TRUE);
    if (job->rc != FERRY_OK) {
        char msg[FERRY_ERR_MSG_MAX + 64];
        g_snprintf(msg, sizeof(msg), "Save: %s: %s (nothing was saved)", ferry_err_name(job->rc),
                   job->err.msg);
        tray_label_set(v->status, msg);
        return;
    }
    const Ferry__V1__SaveNodeConfigResponse *r = (const void *)job->out;
    GString *general = g_string_new(NULL);
    size_t blocking = show_issues(v, r->issues, r->n_issues, general);
    char *t;
    if (!r->saved) {
        t = g_strdup_printf("Not saved: %zu problem(s) marked on their fields; nothing was changed.%s",
                            blocking > 0 ? blocking : r->n_issues, general->str);
    } else {
        t = job->b ? g_strdup_printf("Saved configVersion %lld and uploaded it to the server.%s",
                                     (long long)job->i, general->str)
                   : g_strdup_printf("Saved configVersion %lld; the upload is queued (%s): the agent sends "
                                     "it when the server is reachable.%s",
                                     (long long)job->i, r->upload_error[0] ? r->upload_error : "not yet sent",
                                     general->str);
        if (job->out2 != NULL) {
            Ferry__V1__GetLocalNodeConfigResponse *g = (void *)job->out2;
            if (v->loaded != NULL)
                protobuf_c_message_free_unpacked(&v->loaded->base, NULL);
            v->loaded = ferry_tray_config_dup(g->config);
            show_file(v, g);
            if (v->loaded != NULL)
                fill(v, v->loaded);
            /* Warnings stay visible after the refill. */
            GString *ignored = g_string_new(NULL);
            show_issues(v, r->issues, r->n_issues, ignored);
            g_string_free(ignored, TRUE);
        }
    }
    tray_label_set(v->status, t);
    g_free(t);
    g_string_free(general, TRUE);
}

static void on_validate(GtkButton *b, gpointer p)
{
    (void)b;
    settings_view_t *v = p;
    clear_errors(v);
    Ferry__V1__NodeConfig *cfg = collect(v);
    if (cfg == NULL)
        return;
    tray_label_set(v->status, "Asking the agent to check it (paths, service, database)...");
    gtk_widget_set_sensitive(v->validate, FALSE);
    gtk_widget_set_sensitive(v->save, FALSE);
    tray_job_run(v->app, v->win, v, validate_work, validate_done, cfg, cfg_free);
}

static void on_save(GtkButton *b, gpointer p)
{
    (void)b;
    settings_view_t *v = p;
    clear_errors(v);
    Ferry__V1__NodeConfig *cfg = collect(v);
    if (cfg == NULL)
        return;
    /* The agent assigns the next version (SaveNodeConfig with 0). */
    cfg->config_version = 0;
    tray_label_set(v->status, "Saving and uploading...");
    gtk_widget_set_sensitive(v->validate, FALSE);
    gtk_widget_set_sensitive(v->save, FALSE);
    tray_job_run(v->app, v->win, v, save_work, save_done, cfg, cfg_free);
}

/* ---- the window ------------------------------------------------------------------------------------ */

GtkWidget *tray_settings_window(ferry_tray_app_t *app)
{
    settings_view_t *v = g_new0(settings_view_t, 1);
    size_t n;
    const ferry_tray_field_t *fs = ferry_tray_fields(&n);
    v->app = app;
    v->win = tray_window_new(app, "win-settings", "Ferry - node configuration", v, settings_free);
    gtk_window_set_default_size(GTK_WINDOW(v->win), 760, 900);
    GtkWidget *outer = gtk_box_new(GTK_ORIENTATION_VERTICAL, 8);
    v->file = tray_label("settings-file", "Reading the configuration from the agent...");
    gtk_box_pack_start(GTK_BOX(outer), v->file, FALSE, FALSE, 0);
    GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
    gtk_widget_set_name(scroll, "settings-scroll");
    gtk_scrolled_window_set_policy(GTK_SCROLLED_WINDOW(scroll), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
    GtkWidget *pages = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10);
    gtk_widget_set_name(pages, "settings-fields");
    const char *section = NULL;
    GtkWidget *grid = NULL;
    int r = 0;
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        const ferry_tray_field_t *f = &fs[i];
        if (section == NULL || strcmp(section, f->section) != 0) {
            section = f->section;
            GtkWidget *frame = gtk_frame_new(section);
            grid = gtk_grid_new();
            gtk_container_set_border_width(GTK_CONTAINER(grid), 8);
            gtk_grid_set_row_spacing(GTK_GRID(grid), 2);
            gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
            gtk_container_add(GTK_CONTAINER(frame), grid);
            gtk_box_pack_start(GTK_BOX(pages), frame, FALSE, FALSE, 0);
            r = 0;
        }
        GtkWidget *cap = tray_caption(f->kind == FERRY_TRAY_FIELD_BOOL ? "" : f->label);
        gtk_widget_set_valign(cap, GTK_ALIGN_START);
        v->input[i] = widget_new(f);
        char en[160];
        g_snprintf(en, sizeof(en), "cfg-error:%s", f->key);
        v->error[i] = tray_error_label(en);
        gtk_grid_attach(GTK_GRID(grid), cap, 0, r, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), v->input[i], 1, r++, 1, 1);
        char help[512];
        g_snprintf(help, sizeof(help), "%s (%s)", f->help, f->key);
        gtk_grid_attach(GTK_GRID(grid), tray_help_label(help), 1, r++, 1, 1);
        gtk_grid_attach(GTK_GRID(grid), v->error[i], 1, r++, 1, 1);
        if (f->kind == FERRY_TRAY_FIELD_CONNSTR) {
            GtkWidget *pc = tray_caption("Database password");
            v->password = gtk_entry_new();
            gtk_widget_set_name(v->password, "cfg:backup.db.password");
            gtk_entry_set_visibility(GTK_ENTRY(v->password), FALSE);
            gtk_entry_set_input_purpose(GTK_ENTRY(v->password), GTK_INPUT_PURPOSE_PASSWORD);
            gtk_entry_set_placeholder_text(GTK_ENTRY(v->password), "unchanged");
            gtk_grid_attach(GTK_GRID(grid), pc, 0, r, 1, 1);
            gtk_grid_attach(GTK_GRID(grid), v->password, 1, r++, 1, 1);
            gtk_grid_attach(GTK_GRID(grid),
                            tray_help_label("replaces only the password inside the connection string; "
                                            "empty keeps the stored one (never shown)"),
                            1, r++, 1, 1);
        }
    }
    gtk_container_set_focus_vadjustment(GTK_CONTAINER(pages),
                                        gtk_scrolled_window_get_vadjustment(GTK_SCROLLED_WINDOW(scroll)));
    gtk_container_add(GTK_CONTAINER(scroll), pages);
    gtk_box_pack_start(GTK_BOX(outer), scroll, TRUE, TRUE, 0);
    v->status = tray_label("settings-status", "");
    gtk_box_pack_start(GTK_BOX(outer), v->status, FALSE, FALSE, 0);
    GtkWidget *bb = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(bb), GTK_BUTTONBOX_END);
    gtk_box_set_spacing(GTK_BOX(bb), 6);
    v->validate = tray_button("settings-validate", "_Validate");
    v->save = tray_button_main("settings-save", "_Save and upload");
    gtk_widget_set_sensitive(v->validate, FALSE);
    gtk_widget_set_sensitive(v->save, FALSE);
    g_signal_connect(v->validate, "clicked", G_CALLBACK(on_validate), v);
    g_signal_connect(v->save, "clicked", G_CALLBACK(on_save), v);
    gtk_container_add(GTK_CONTAINER(bb), v->validate);
    gtk_container_add(GTK_CONTAINER(bb), v->save);
    gtk_box_pack_end(GTK_BOX(outer), bb, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(v->win), outer);
    gtk_widget_show_all(v->win);
    tray_job_run(app, v->win, v, load_work, load_done, NULL, NULL);
    return v->win;
}
