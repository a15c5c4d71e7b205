/*
 * Offline package: the package zip and its signed manifest (file choosers), then
 * ApplyOfflinePackage; the agent verifies both before anything changes and the progress
 * window follows the local task. A refusal is shown on the file it concerns.
 */
#include <string.h>

#include "gtk/internal.h"

typedef struct offline_view {
    ferry_tray_app_t *app;
    GtkWidget *win;
    GtkWidget *package, *manifest, *err_package, *err_manifest, *apply, *result;
} offline_view_t;

typedef struct offline_arg {
    char package[4096], manifest[4096];
} offline_arg_t;

static void browse(offline_view_t *v, GtkWidget *target, bool manifest)
{
    GtkWidget *d = gtk_file_chooser_dialog_new(manifest ? "Signed manifest" : "Package", GTK_WINDOW(v->win),
                                               GTK_FILE_CHOOSER_ACTION_OPEN, "_Cancel", GTK_RESPONSE_CANCEL,
                                               "_Open", GTK_RESPONSE_ACCEPT, NULL);
    gtk_widget_set_name(d, manifest ? "offline-manifest-chooser" : "offline-package-chooser");
    GtkFileFilter *f = gtk_file_filter_new();
    gtk_file_filter_set_name(f, manifest ? "Signed manifest (*.manifest.json)" : "Package (*.zip)");
    gtk_file_filter_add_pattern(f, manifest ? "*.json" : "*.zip");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), f);
    GtkFileFilter *all = gtk_file_filter_new();
    gtk_file_filter_set_name(all, "All files");
    gtk_file_filter_add_pattern(all, "*");
    gtk_file_chooser_add_filter(GTK_FILE_CHOOSER(d), all);
    const char *cur = gtk_entry_get_text(GTK_ENTRY(target));
    if (cur[0] != '\0')
        gtk_file_chooser_set_filename(GTK_FILE_CHOOSER(d), cur);
    else if (manifest && gtk_entry_get_text(GTK_ENTRY(v->package))[0] != '\0') {
        /* The export puts both side by side. */
        char *dir = g_path_get_dirname(gtk_entry_get_text(GTK_ENTRY(v->package)));
        gtk_file_chooser_set_current_folder(GTK_FILE_CHOOSER(d), dir);
        g_free(dir);
    }
    if (gtk_dialog_run(GTK_DIALOG(d)) == GTK_RESPONSE_ACCEPT) {
        char *fn = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(d));
        if (fn != NULL)
            gtk_entry_set_text(GTK_ENTRY(target), fn);
        g_free(fn);
    }
    gtk_widget_destroy(d);
}

static void on_browse_package(GtkButton *b, gpointer p)
{
    (void)b;
    offline_view_t *v = p;
    browse(v, v->package, false);
}

static void on_browse_manifest(GtkButton *b, gpointer p)
{
    (void)b;
    offline_view_t *v = p;
    browse(v, v->manifest, true);
}

static void apply_work(tray_job_t *job, ferry_tray_client_t *c)
{
    offline_arg_t *a = job->arg;
    Ferry__V1__ApplyOfflinePackageResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_apply_offline(c, a->package, a->manifest, &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void apply_done(tray_job_t *job)
{
    offline_view_t *v = job->view;
    char msg[FERRY_ERR_MSG_MAX + 64];
    gtk_widget_set_sensitive(v->apply, TRUE);
    if (job->rc != FERRY_OK) {
        /* Signature and expiry concern the manifest; the digest and the zip the package. */
        ferry_err_code_t rc = job->rc;
        GtkWidget *on = rc == FERRY_E_SIGNATURE_INVALID || rc == FERRY_E_MANIFEST_EXPIRED ? v->err_manifest
                        : rc == FERRY_E_HASH_MISMATCH || rc == FERRY_E_PACKAGE_INVALID    ? v->err_package
                        : strstr(job->err.msg, "manifest") != NULL                        ? v->err_manifest
                        : strstr(job->err.msg, "package") != NULL                         ? v->err_package
                                                                                          : NULL;
        g_snprintf(msg, sizeof(msg), "%s: %s", ferry_err_name(rc), job->err.msg);
        if (on != NULL)
            tray_error_set(on, msg);
        tray_label_set(v->result, on != NULL ? "Refused before anything was changed." : msg);
        return;
    }
    const Ferry__V1__ApplyOfflinePackageResponse *r = (const void *)job->out;
    g_snprintf(msg, sizeof(msg), "Package %s verified (signature, SHA-256); the agent applies it as task %s.",
               r->task != NULL ? r->task->package_version : "", r->task != NULL ? r->task->id : "");
    tray_label_set(v->result, msg);
    if (r->task != NULL)
        ferry_tray_app_open_progress(v->app, r->task->id);
}

static void on_apply(GtkButton *b, gpointer p)
{
    (void)b;
    offline_view_t *v = p;
    const char *pkg = gtk_entry_get_text(GTK_ENTRY(v->package));
    const char *man = gtk_entry_get_text(GTK_ENTRY(v->manifest));
    tray_error_set(v->err_package, "");
    tray_error_set(v->err_manifest, "");
    tray_label_set(v->result, "");
    bool bad = false;
    if (pkg[0] == '\0' || !g_file_test(pkg, G_FILE_TEST_IS_REGULAR)) {
        tray_error_set(v->err_package, pkg[0] ? "E_NOT_FOUND: package: no such file"
                                              : "E_INVALID_ARG: package: choose the zip");
        bad = true;
    }
    if (man[0] == '\0' || !g_file_test(man, G_FILE_TEST_IS_REGULAR)) {
        tray_error_set(v->err_manifest, man[0] ? "E_NOT_FOUND: manifest: no such file"
                                               : "E_INVALID_ARG: manifest: choose the signed manifest");
        bad = true;
    }
    if (bad)
        return;
    offline_arg_t *a = g_new0(offline_arg_t, 1);
    g_strlcpy(a->package, pkg, sizeof(a->package));
    g_strlcpy(a->manifest, man, sizeof(a->manifest));
    gtk_widget_set_sensitive(v->apply, FALSE);
    tray_label_set(v->result, "Verifying the package...");
    tray_job_run(v->app, v->win, v, apply_work, apply_done, a, g_free);
}

/* A new file choice makes the old refusal stale. */
static void on_changed(GtkEditable *e, gpointer err)
{
    (void)e;
    tray_error_set(err, "");
}

static GtkWidget *file_row(offline_view_t *v, GtkWidget *grid, int r, const char *caption, const char *name,
                           const char *browse_name, GCallback cb, GtkWidget **err, const char *err_name)
{
    GtkWidget *c = tray_caption(caption);
    GtkWidget *e = gtk_entry_new();
    gtk_widget_set_name(e, name);
    gtk_widget_set_hexpand(e, TRUE);
    gtk_entry_set_width_chars(GTK_ENTRY(e), 50);
    GtkWidget *b = tray_button(browse_name, "Choose...");
    g_signal_connect(b, "clicked", cb, v);
    *err = tray_error_label(err_name);
    g_signal_connect(e, "changed", G_CALLBACK(on_changed), *err);
    gtk_grid_attach(GTK_GRID(grid), c, 0, r, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), e, 1, r, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), b, 2, r, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), *err, 1, r + 1, 2, 1);
    return e;
}

GtkWidget *tray_offline_window(ferry_tray_app_t *app)
{
    offline_view_t *v = g_new0(offline_view_t, 1);
    v->app = app;
    v->win = tray_window_new(app, "win-offline", "Ferry - offline package", v, g_free);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10);
    gtk_box_pack_start(GTK_BOX(box),
                       tray_label(NULL,
                                  "Install a package exported with `ferry package export` without network: "
                                  "the zip and its signed VERSION.manifest.json. The agent checks the "
                                  "signature against the keys pinned at bind and the zip's SHA-256 "
                                  "before anything changes, then updates with backup and rollback."),
                       FALSE, FALSE, 0);
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 4);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 8);
    v->package = file_row(v, grid, 0, "Package (.zip)", "offline-package", "offline-package-browse",
                          G_CALLBACK(on_browse_package), &v->err_package, "offline-package-error");
    v->manifest = file_row(v, grid, 2, "Signed manifest", "offline-manifest", "offline-manifest-browse",
                           G_CALLBACK(on_browse_manifest), &v->err_manifest, "offline-manifest-error");
    gtk_box_pack_start(GTK_BOX(box), grid, FALSE, FALSE, 0);
    v->result = tray_label("offline-result", "");
    gtk_box_pack_start(GTK_BOX(box), v->result, FALSE, FALSE, 0);
    GtkWidget *bb = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(bb), GTK_BUTTONBOX_END);
    v->apply = tray_button_main("offline-apply", "_Verify and install");
    g_signal_connect(v->apply, "clicked", G_CALLBACK(on_apply), v);
    gtk_container_add(GTK_CONTAINER(bb), v->apply);
    gtk_box_pack_end(GTK_BOX(box), bb, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(v->win), box);
    gtk_widget_show_all(v->win);
    return v->win;
}
