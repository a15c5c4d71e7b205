/*
 * The SQL Server executor over FreeTDS db-lib. db-lib's error and message handlers
 * are process-wide, so each connection stores its executor with dbsetuserdata() and
 * the handlers route messages back to it; during dbopen() (no user data yet) a
 * thread-local "logging in" pointer plays that role.
 *
 * Failure detection: dbsqlexec()/dbresults() report FAIL only for some errors; a
 * runtime error in a later statement of a batch arrives as a message of severity >= 11
 * while the calls succeed. A batch is therefore failed when either happens.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sybfront.h> /* must precede sybdb.h */
#include <sybdb.h>

#include "ferry/engine/mssql.h"
#include "sqlexec_int.h"

typedef struct mssql_exec {
    ferry_sqlexec_t base;
    DBPROCESS *dbp;
    int max_severity;      /* highest server severity during the current call */
    char last_error[1024]; /* last error message (server or db-lib) */
    char database[FERRY_MSSQL_MAX_VALUE];
} mssql_exec_t;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_ok;
static _Thread_local mssql_exec_t *logging_in;

static mssql_exec_t *owner(DBPROCESS *dbp)
{
    mssql_exec_t *x = dbp != NULL ? (mssql_exec_t *)dbgetuserdata(dbp) : NULL;
    return x != NULL ? x : logging_in;
}

static int err_handler(DBPROCESS *dbp, int severity, int dberr, int oserr, char *dberrstr, char *oserrstr)
{
    char msg[1024];
    mssql_exec_t *x = owner(dbp);
    ferry_mssql_format_dberror(msg, sizeof(msg), dberr, severity, dberrstr,
                               oserr != DBNOERR && oserr != 0 ? oserrstr : NULL);
    if (x != NULL) {
        snprintf(x->last_error, sizeof(x->last_error), "%s", msg);
        ferry_sqlexec_emit(&x->base, msg);
    }
    /* INT_CANCEL makes the failing call return FAIL instead of aborting the process. */
    return INT_CANCEL;
}

static int msg_handler(DBPROCESS *dbp, DBINT msgno, int msgstate, int severity, char *msgtext, char *srvname,
                       char *procname, int line)
{
    char msg[1024];
    mssql_exec_t *x = owner(dbp);
    /* "Changed database context/language setting": noise sqlcmd hides too. */
    if (msgno == 5701 || msgno == 5703 || msgno == 5704)
        return 0;
    ferry_mssql_format_message(msg, sizeof(msg), (long)msgno, severity, msgstate, line, srvname, procname,
                               msgtext);
    if (x != NULL) {
        if (severity > 10) {
            if (severity > x->max_severity)
                x->max_severity = severity;
            snprintf(x->last_error, sizeof(x->last_error), "%s", msg);
        }
        ferry_sqlexec_emit(&x->base, msg);
    }
    return 0;
}

static void do_init(void)
{
    init_ok = dbinit() == SUCCEED;
    if (init_ok) {
        dberrhandle(err_handler);
        dbmsghandle(msg_handler);
    }
}

/* Runs |sql| once, draining every result set. */
static ferry_err_code_t run(mssql_exec_t *x, const char *sql, int64_t *rows, ferry_err_t *err)
{
    int64_t total = -1;
    bool failed = false;
    x->max_severity = 0;
    x->last_error[0] = '\0';
    if (dbcmd(x->dbp, sql) == FAIL || dbsqlexec(x->dbp) == FAIL) {
        failed = true;
    } else {
        RETCODE r;
        while ((r = dbresults(x->dbp)) != NO_MORE_RESULTS) {
            if (r == FAIL) {
                failed = true;
                break;
            }
            STATUS row;
            while ((row = dbnextrow(x->dbp)) != NO_MORE_ROWS && row != FAIL)
                ;
            if (dbiscount(x->dbp))
                total = (total < 0 ? 0 : total) + DBCOUNT(x->dbp);
        }
    }
    if (failed)
        dbcancel(x->dbp);
    if (rows != NULL)
        *rows = total;
    if (failed || x->max_severity > 10)
        return ferry_err_set(err, FERRY_E_IO, "%s",
                             x->last_error[0] ? x->last_error : "batch failed (no message)");
    return FERRY_OK;
}

static ferry_err_code_t ms_exec(ferry_sqlexec_t *base, const char *sql, size_t len, int64_t *rows,
                                ferry_err_t *err)
{
    mssql_exec_t *x = (mssql_exec_t *)base;
    ferry_err_code_t rc;
    char *copy = NULL;
    if (sql[len] != '\0') {
        if ((copy = strndup(sql, len)) == NULL)
            return ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        sql = copy;
    }
    rc = run(x, sql, rows, err);
    if (rc != FERRY_OK) {
        /* A script that died inside its own transaction must not leave it open. */
        ferry_err_t ignored = {0};
        run(x, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION", NULL, &ignored);
    }
    free(copy);
    return rc;
}

static ferry_err_code_t ms_backup(ferry_sqlexec_t *base, const char *database, const char *file,
                                  ferry_err_t *err)
{
    mssql_exec_t *x = (mssql_exec_t *)base;
    char stmt[10240];
    ferry_err_code_t rc = ferry_mssql_build_backup(database, file, stmt, sizeof(stmt), err);
    if (rc == FERRY_OK)
        rc = run(x, stmt, NULL, err);
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "BACKUP DATABASE '%s' to '%s'", database, file);
    return rc;
}

static ferry_err_code_t ms_restore(ferry_sqlexec_t *base, const char *database, const char *file,
                                   ferry_err_t *err)
{
    mssql_exec_t *x = (mssql_exec_t *)base;
    char stmt[10240];
    ferry_err_code_t rc;
    /* RESTORE cannot run while connected to the database being replaced. */
    if (dbuse(x->dbp, "master") == FAIL) {
        rc = ferry_err_set(err, FERRY_E_IO, "USE master: %s", x->last_error);
        goto out;
    }
    if ((rc = ferry_mssql_build_verify(file, stmt, sizeof(stmt), err)) != FERRY_OK ||
        (rc = run(x, stmt, NULL, err)) != FERRY_OK) {
        ferry_err_recode(err, FERRY_E_CORRUPT);
        goto out;
    }
    if ((rc = ferry_mssql_build_restore(0, database, file, stmt, sizeof(stmt), err)) != FERRY_OK ||
        (rc = run(x, stmt, NULL, err)) != FERRY_OK)
        goto out;
    if ((rc = ferry_mssql_build_restore(1, database, file, stmt, sizeof(stmt), err)) == FERRY_OK)
        rc = run(x, stmt, NULL, err);
    /* Always return the database to multi-user, even after a failed RESTORE. */
    ferry_err_t e2 = {0};
    ferry_err_code_t rc2 = ferry_mssql_build_restore(2, database, file, stmt, sizeof(stmt), &e2);
    if (rc2 == FERRY_OK)
        rc2 = run(x, stmt, NULL, &e2);
    if (rc == FERRY_OK && rc2 != FERRY_OK) {
        *err = e2;
        rc = rc2;
    }
out:
    if (rc != FERRY_OK)
        ferry_err_prefix(err, "RESTORE DATABASE '%s' from '%s'", database, file);
    if (x->database[0] != '\0' && strcmp(x->database, database) != 0)
        dbuse(x->dbp, x->database);
    return rc;
}

static void ms_close(ferry_sqlexec_t *base)
{
    mssql_exec_t *x = (mssql_exec_t *)base;
    if (x->dbp != NULL)
        dbclose(x->dbp);
    free(x);
}

/* A check hook's query: the first column of the first row, converted to an integer. */
static ferry_err_code_t ms_count(ferry_sqlexec_t *base, const char *sql, int64_t *count, ferry_err_t *err)
{
    mssql_exec_t *x = (mssql_exec_t *)base;
    bool failed = false, got = false, bad = false;
    int64_t value = 0;
    x->max_severity = 0;
    x->last_error[0] = '\0';
    if (dbcmd(x->dbp, sql) == FAIL || dbsqlexec(x->dbp) == FAIL) {
        failed = true;
    } else {
        RETCODE r;
        while ((r = dbresults(x->dbp)) != NO_MORE_RESULTS) {
            if (r == FAIL) {
                failed = true;
                break;
            }
            STATUS row;
            while ((row = dbnextrow(x->dbp)) != NO_MORE_ROWS && row != FAIL) {
                if (got || dbnumcols(x->dbp) != 1)
                    continue;
                DBBIGINT v = 0;
                int type = dbcoltype(x->dbp, 1);
                if (dbdata(x->dbp, 1) == NULL ||
                    dbconvert(x->dbp, type, dbdata(x->dbp, 1), dbdatlen(x->dbp, 1), SYBINT8, (BYTE *)&v,
                              (DBINT)sizeof(v)) < 0)
                    bad = true;
                value = (int64_t)v;
                got = true;
            }
        }
    }
    if (failed)
        dbcancel(x->dbp);
    if (failed || x->max_severity > 10)
        return ferry_err_set(err, FERRY_E_IO, "%s", x->last_error[0] ? x->last_error : "check query failed");
    if (!got || bad)
        return ferry_err_set(err, FERRY_E_INVALID_ARG,
                             "check query must return one row with one integer column");
    *count = value;
    return FERRY_OK;
}

static const ferry_sqlexec_ops_t mssql_ops = {.kind = "mssql",
                                              .exec = ms_exec,
                                              .backup = ms_backup,
                                              .restore = ms_restore,
                                              .close = ms_close,
                                              .count = ms_count};

ferry_err_code_t ferry_sqlexec_open_mssql(const char *connstr, const char *database, ferry_sqlexec_t **out,
                                          ferry_err_t *err)
{
    ferry_err_code_t rc = FERRY_OK;
    LOGINREC *login = NULL;
    mssql_exec_t *x = NULL;
    ferry_mssql_connstr_t *cs = calloc(1, sizeof(*cs));
    char server[FERRY_MSSQL_MAX_VALUE + 16];
    *out = NULL;
    if (cs == NULL || (x = calloc(1, sizeof(*x))) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "out of memory");
        goto out;
    }
    x->base.ops = &mssql_ops;
    if ((rc = ferry_mssql_connstr_parse(connstr, cs, err)) != FERRY_OK) {
        ferry_err_prefix(err, "connection string");
        goto out;
    }
    snprintf(x->database, sizeof(x->database), "%s", database != NULL ? database : cs->database);
    pthread_once(&init_once, do_init);
    if (!init_ok) {
        rc = ferry_err_set(err, FERRY_E_INTERNAL, "FreeTDS dbinit() failed");
        goto out;
    }
    if ((login = dblogin()) == NULL) {
        rc = ferry_err_set(err, FERRY_E_NOMEM, "dblogin() failed");
        goto out;
    }
    DBSETLUSER(login, cs->user);
    DBSETLPWD(login, cs->password);
    DBSETLAPP(login, cs->app_name);
    if (cs->workstation[0] != '\0')
        DBSETLHOST(login, cs->workstation);
    DBSETLCHARSET(login, "UTF-8");
    DBSETLVERSION(login, DBVERSION_74);
    DBSETLENCRYPT(login, cs->encrypt ? TRUE : FALSE);
    if (cs->packet_size != 0)
        DBSETLPACKET(login, (int)cs->packet_size);
    if (x->database[0] != '\0')
        DBSETLDBNAME(login, x->database);
    dbsetlogintime((int)cs->connect_timeout_s);
    ferry_mssql_server_name(cs, server, sizeof(server));
    logging_in = x;
    x->dbp = dbopen(login, server);
    logging_in = NULL;
    if (x->dbp == NULL) {
        rc = ferry_err_set(err, FERRY_E_UNAVAILABLE, "connect to SQL Server '%s' as '%s': %s", server,
                           cs->user, x->last_error[0] ? x->last_error : "login failed");
        goto out;
    }
    dbsetuserdata(x->dbp, (BYTE *)x);
    *out = &x->base;
    x = NULL;
out:
    if (login != NULL)
        dbloginfree(login); /* FreeTDS clears the stored password */
    if (cs != NULL)
        explicit_bzero(cs, sizeof(*cs));
    free(cs);
    if (x != NULL)
        ms_close(&x->base);
    return rc;
}
