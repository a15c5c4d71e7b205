/**
 * @file views.h
 * ferry-tray's GTK 3 views: thin bindings of widgets to the presenter. Every widget a
 * test drives has a name (gtk_widget_set_name), listed with each window.
 */
#ifndef FERRY_TRAY_VIEWS_H
#define FERRY_TRAY_VIEWS_H

/** Runs the tray (status icon, menu, windows) against the agent of |state_dir| (NULL = default). */
int ferry_tray_gtk_main(const char *state_dir);

#endif
