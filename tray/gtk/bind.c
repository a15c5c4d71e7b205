/*
 * The bind wizard (seed 000 §5.1): server URL, node code, environment, token (masked).
 * The presenter checks the input first (ferry_tray_bind_check); the agent binds and
 * stores the token itself. The tray keeps the token only in the entry and in the one
 * request, scrubbed afterwards; the server's refusal is shown on the field it concerns.
 */
#include <string.h>

#include "gtk/internal.h"

#define TOKEN_MAX 512

typedef struct bind_view {
    ferry_tray_app_t *app;
    GtkWidget *win;
    GtkWidget *server, *node, *env, *token, *ca, *submit, *result;
    GtkWidget *err_server, *err_node, *err_env, *err_token, *err_ca;
} bind_view_t;

typedef struct bind_arg {
    char server[1024], node[128], ca[1024];
    Ferry__V1__Environment env;
    char token[TOKEN_MAX + 1];
} bind_arg_t;

static void bind_arg_free(void *p)
{
    explicit_bzero(p, sizeof(bind_arg_t));
    g_free(p);
}

static GtkWidget *field_error(bind_view_t *v, const char *field)
{
    return strcmp(field, FERRY_TRAY_BIND_SERVER) == 0  ? v->err_server
           : strcmp(field, FERRY_TRAY_BIND_NODE) == 0  ? v->err_node
           : strcmp(field, FERRY_TRAY_BIND_ENV) == 0   ? v->err_env
           : strcmp(field, FERRY_TRAY_BIND_TOKEN) == 0 ? v->err_token
           : strcmp(field, FERRY_TRAY_BIND_CA) == 0    ? v->err_ca
                                                       : NULL;
}

static void clear_errors(bind_view_t *v)
{
    tray_error_set(v->err_server, "");
    tray_error_set(v->err_node, "");
    tray_error_set(v->err_env, "");
    tray_error_set(v->err_token, "");
    tray_error_set(v->err_ca, "");
    tray_label_set(v->result, "");
}

static void bind_work(tray_job_t *job, ferry_tray_client_t *c)
{
    bind_arg_t *a = job->arg;
    Ferry__V1__LocalBindResponse *r = NULL;
    if (c == NULL)
        return;
    job->rc = ferry_tray_bind(c, a->server, a->node, a->env, a->token, a->ca, "", &r, &job->err);
    job->out = r != NULL ? &r->base : NULL;
}

static void bind_done(tray_job_t *job)
{
    bind_view_t *v = job->view;
    bind_arg_t *a = job->arg;
    char msg[FERRY_ERR_MSG_MAX + 128];
    gtk_widget_set_sensitive(v->submit, TRUE);
    if (job->rc != FERRY_OK) {
        GtkWidget *on = field_error(v, ferry_tray_bind_error_field(job->rc));
        g_snprintf(msg, sizeof(msg), "%s: %s", ferry_err_name(job->rc), job->err.msg);
        if (on != NULL)
            tray_error_set(on, msg);
        tray_label_set(v->result, on != NULL ? "The server refused the binding; nothing was stored." : msg);
        return;
    }
    const Ferry__V1__LocalBindResponse *r = (const void *)job->out;
    g_snprintf(msg, sizeof(msg), "Bound to %s as node %s (%s / %s, %s). The agent stored the token.",
               a->server, a->node, r->node != NULL ? r->node->customer_code : "?",
               r->node != NULL ? r->node->store_code : "?", ferry_tray_env_name(a->env));
    tray_label_set(v->result, msg);
    /* The token is not needed any more: out of the entry. */
    gtk_entry_set_text(GTK_ENTRY(v->token), "");
}

static void on_submit(GtkButton *b, gpointer p)
{
    (void)b;
    bind_view_t *v = p;
    const char *field = "";
    ferry_err_t err = {0};
    clear_errors(v);
    const char *env = gtk_combo_box_get_active_id(GTK_COMBO_BOX(v->env));
    ferry_tray_bind_input_t in = {gtk_entry_get_text(GTK_ENTRY(v->server)),
                                  gtk_entry_get_text(GTK_ENTRY(v->node)), env != NULL ? env : "",
                                  gtk_entry_get_text(GTK_ENTRY(v->token)),
                                  gtk_entry_get_text(GTK_ENTRY(v->ca))};
    if (ferry_tray_bind_check(&in, &field, &err) != FERRY_OK) {
        GtkWidget *on = field_error(v, field);
        char msg[FERRY_ERR_MSG_MAX + 32];
        g_snprintf(msg, sizeof(msg), "%s: %s", ferry_err_name(err.code), err.msg);
        tray_error_set(on != NULL ? on : v->result, msg);
        return;
    }
    bind_arg_t *a = g_new0(bind_arg_t, 1);
    g_strlcpy(a->server, in.server_url, sizeof(a->server));
    g_strlcpy(a->node, in.node_code, sizeof(a->node));
    g_strlcpy(a->ca, in.ca_file, sizeof(a->ca));
    g_strlcpy(a->token, in.token, sizeof(a->token));
    a->env = ferry_tray_env_parse(in.environment);
    gtk_widget_set_sensitive(v->submit, FALSE);
    tray_label_set(v->result, "Asking the server...");
    tray_job_run(v->app, v->win, v, bind_work, bind_done, a, bind_arg_free);
}

static GtkWidget *add_row(GtkWidget *grid, int *r, const char *caption, GtkWidget *input, GtkWidget *err,
                          const char *help)
{
    GtkWidget *c = tray_caption(caption);
    gtk_widget_set_hexpand(input, TRUE);
    gtk_grid_attach(GTK_GRID(grid), c, 0, *r, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), input, 1, *r, 1, 1);
    (*r)++;
    if (help != NULL) {
        gtk_grid_attach(GTK_GRID(grid), tray_help_label(help), 1, *r, 1, 1);
        (*r)++;
    }
    gtk_grid_attach(GTK_GRID(grid), err, 1, *r, 1, 1);
    (*r)++;
    return input;
}

static GtkWidget *entry(const char *name)
{
    GtkWidget *e = gtk_entry_new();
    gtk_widget_set_name(e, name);
    gtk_entry_set_width_chars(GTK_ENTRY(e), 40);
    return e;
}

GtkWidget *tray_bind_window(ferry_tray_app_t *app)
{
    bind_view_t *v = g_new0(bind_view_t, 1);
    v->app = app;
    v->win = tray_window_new(app, "win-bind", "Ferry - bind this node", v, g_free);
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 10);
    gtk_box_pack_start(GTK_BOX(box),
                       tray_label(NULL,
                                  "Bind this server to its node in Ferry. Ask the Ferry administrator for "
                                  "the server URL, the node code and the node token (shown once when "
                                  "the node was created)."),
                       FALSE, FALSE, 0);
    GtkWidget *grid = gtk_grid_new();
    gtk_grid_set_row_spacing(GTK_GRID(grid), 4);
    gtk_grid_set_column_spacing(GTK_GRID(grid), 12);
    int r = 0;
    v->err_server = tray_error_label("bind-server-error");
    v->err_node = tray_error_label("bind-node-error");
    v->err_env = tray_error_label("bind-env-error");
    v->err_token = tray_error_label("bind-token-error");
    v->err_ca = tray_error_label("bind-ca-error");
    v->server = add_row(grid, &r, "Server URL", entry("bind-server"), v->err_server,
                        "e.g. https://ferry.example.com:8443");
    v->node = add_row(grid, &r, "Node code", entry("bind-node"), v->err_node, NULL);
    v->env = gtk_combo_box_text_new();
    gtk_widget_set_name(v->env, "bind-env");
    static const char *const envs[] = {"DEV", "TEST", "UAT", "PROD"};
    for (size_t i = 0; i < G_N_ELEMENTS(envs); i++)
        gtk_combo_box_text_append(GTK_COMBO_BOX_TEXT(v->env), envs[i], envs[i]);
    add_row(grid, &r, "Environment", v->env, v->err_env, NULL);
    v->token = entry("bind-token");
    gtk_entry_set_visibility(GTK_ENTRY(v->token), FALSE);
    gtk_entry_set_input_purpose(GTK_ENTRY(v->token), GTK_INPUT_PURPOSE_PASSWORD);
    add_row(grid, &r, "Node token", v->token, v->err_token, "sent once to the agent, which stores it (0600)");
    v->ca = entry("bind-ca");
    add_row(grid, &r, "CA file (optional)", v->ca, v->err_ca,
            "PEM of a private CA of the server's certificate; empty = the system's");
    gtk_box_pack_start(GTK_BOX(box), grid, FALSE, FALSE, 0);
    v->result = tray_label("bind-result", "");
    gtk_box_pack_start(GTK_BOX(box), v->result, FALSE, FALSE, 0);
    GtkWidget *bb = gtk_button_box_new(GTK_ORIENTATION_HORIZONTAL);
    gtk_button_box_set_layout(GTK_BUTTON_BOX(bb), GTK_BUTTONBOX_END);
    v->submit = tray_button_main("bind-submit", "_Bind");
    g_signal_connect(v->submit, "clicked", G_CALLBACK(on_submit), v);
    gtk_container_add(GTK_CONTAINER(bb), v->submit);
    gtk_box_pack_end(GTK_BOX(box), bb, FALSE, FALSE, 0);
    gtk_container_add(GTK_CONTAINER(v->win), box);
    /* Known values (a refused token on a bound node) are filled in; the token never is. */
    const Ferry__V1__AgentStatus *st = app->status;
    if (st != NULL && st->server_url[0] != '\0')
        gtk_entry_set_text(GTK_ENTRY(v->server), st->server_url);
    if (st != NULL && st->node_code[0] != '\0')
        gtk_entry_set_text(GTK_ENTRY(v->node), st->node_code);
    if (st != NULL && ferry_tray_env_name(st->environment)[0] != '\0')
        gtk_combo_box_set_active_id(GTK_COMBO_BOX(v->env), ferry_tray_env_name(st->environment));
    gtk_widget_show_all(v->win);
    return v->win;
}
