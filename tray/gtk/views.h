/**
 * @file views.h
 * ferry-tray's GTK 3 views: thin bindings of widgets to the presenter
 * (ferry/tray/presenter.h) and the LocalService client (ferry/tray/client.h). The GTK
 * main loop never waits for the agent: every call runs on a worker thread and its
 * result comes back through g_idle_add(); the status comes from a WatchStatus thread.
 *
 * Every widget a test drives or reads has a name (gtk_widget_set_name), found with
 * ferry_tray_gtk_find():
 *
 *  - menu: menu-status-line, menu-open-status, menu-check, menu-update-now, menu-bind,
 *    menu-settings, menu-offline, menu-quit
 *  - status window (win-status): status-tooltip, status-binding, status-link,
 *    status-installed, status-task, status-last, status-pending, status-config,
 *    status-message, status-check, status-answer, status-update-now
 *  - bind wizard (win-bind): bind-server, bind-node, bind-env (combo, ids DEV..PROD),
 *    bind-token (masked), bind-ca, bind-submit, bind-<field>-error, bind-result
 *  - settings (win-settings): cfg:<node-config key> (entry, combo with the choices as
 *    ids, check button, or text view for lists), cfg:backup.db.password (masked; empty
 *    keeps the stored password), cfg-error:<key>, settings-scroll, settings-fields,
 *    settings-file, settings-validate,
 *    settings-save, settings-status
 *  - update prompt (win-prompt): prompt-version, prompt-description, prompt-size,
 *    prompt-deadline, prompt-now, prompt-later-0..2, prompt-result
 *  - progress (win-progress): progress-title, progress-step-<10..130>, progress-bar,
 *    progress-headline, progress-error, progress-backup
 *  - offline package (win-offline): offline-package, offline-package-browse,
 *    offline-manifest, offline-manifest-browse, offline-apply, offline-package-error,
 *    offline-manifest-error, offline-result
 */
#ifndef FERRY_TRAY_VIEWS_H
#define FERRY_TRAY_VIEWS_H

#include <gtk/gtk.h>
#include <stdbool.h>

#include "ferry/tray/presenter.h"

/** Runs the tray (status icon, menu, windows) against the agent of |state_dir| (NULL = default). */
int ferry_tray_gtk_main(const char *state_dir);

/** The tray: icon, menu, status watch and the open windows. */
typedef struct ferry_tray_app ferry_tray_app_t;

/**
 * Creates the status icon and its menu and starts watching the agent of |state_dir|
 * (NULL = the default). gtk_init() must have run. When |auto_windows|, the bind wizard
 * opens when the agent is not bound and the update prompt when a prompt starts waiting.
 */
ferry_tray_app_t *ferry_tray_app_new(const char *state_dir, bool auto_windows);

/** Stops the watch, waits for running calls, closes the windows and frees |app|. */
void ferry_tray_app_free(ferry_tray_app_t *app);

/** The menu of the status icon (owned by the app). */
GtkWidget *ferry_tray_app_menu(ferry_tray_app_t *app);

/** The icon state shown now, and its tooltip text (owned by the app). */
ferry_tray_icon_t ferry_tray_app_icon(const ferry_tray_app_t *app);
const char *ferry_tray_app_tooltip(const ferry_tray_app_t *app);

/**
 * The last tooltip shown in state |icon| since the app started ("" = never shown): a
 * state can come and go between two looks (a short update), this keeps the evidence.
 */
const char *ferry_tray_app_tooltip_seen(const ferry_tray_app_t *app, ferry_tray_icon_t icon);

/** The icon name shown now (a freedesktop icon name). */
const char *ferry_tray_app_icon_name(const ferry_tray_app_t *app);

/** How many status snapshots arrived, and how many desktop notifications were sent. */
unsigned ferry_tray_app_status_count(const ferry_tray_app_t *app);
unsigned ferry_tray_app_notifications(const ferry_tray_app_t *app);

/** Opens (or raises) a window; returns it. */
GtkWidget *ferry_tray_app_open_status(ferry_tray_app_t *app);
GtkWidget *ferry_tray_app_open_bind(ferry_tray_app_t *app);
GtkWidget *ferry_tray_app_open_settings(ferry_tray_app_t *app);
/** The prompt of |task_id| (NULL or "" = the waiting one, see ferry_tray_prompt_pick()). */
GtkWidget *ferry_tray_app_open_prompt(ferry_tray_app_t *app, const char *task_id);
/** Progress of |task_id| ("" = whichever task runs next). */
GtkWidget *ferry_tray_app_open_progress(ferry_tray_app_t *app, const char *task_id);
GtkWidget *ferry_tray_app_open_offline(ferry_tray_app_t *app);

/** The open window named |name| ("win-prompt", ...) or NULL. */
GtkWidget *ferry_tray_app_window(ferry_tray_app_t *app, const char *name);

/** The widget named |name| under |root| (depth first, menus' items included), or NULL. */
GtkWidget *ferry_tray_gtk_find(GtkWidget *root, const char *name);

#endif
