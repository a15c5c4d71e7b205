#!/usr/bin/env bash
# Hostile packages through `ferry-agent apply`: each must end 110 Failed with
# E_PACKAGE_INVALID, before the service is stopped, with nothing changed.
source "$(dirname "$0")/engine_lib.sh"
new_version_trees
node_setup
snap old
pid_before=$(cat $N/run/svc.pid)

check_refused() {
    local what=$1 pkg=$2
    agent apply "$pkg" --config $CFG --version "$V" --json
    [ $RC = 1 ] || { cat $W/out $W/err; fail "$what: exit $RC"; }
    expect_state 110 E_PACKAGE_INVALID
    echo "  $what: $(json_field errorMessage)"
    [ -z "$(ls -A $N/backup)" ] || fail "$what: a backup folder was created"
    [ "$(cat $N/run/svc.pid)" = "$pid_before" ] && svc_running || fail "$what: the service was touched"
    [ ! -e /tmp/ferry-evil.txt ] && [ ! -e $N/evil.txt ] && [ ! -e $N/server/../evil.txt ] || fail "$what: escaped"
    snap after
    same_old old after
}

for kind in slip absolute backslash symlink dup crc bomb; do
    mkpkg $W/h_$kind.zip --server $NEW/server --client $NEW/client --hostile $kind --target server
    check_refused "server.zip $kind" $W/h_$kind.zip
done
mkpkg $W/hc_slip.zip --server $NEW/server --client $NEW/client --hostile slip --target client
check_refused "client.zip slip" $W/hc_slip.zip
mkpkg $W/ho_slip.zip --hostile slip --target outer
check_refused "outer slip" $W/ho_slip.zip

head -c 5000 /dev/urandom >$W/garbage.zip
check_refused "not a zip" $W/garbage.zip
mkpkg $W/full.zip --server $NEW/server --client $NEW/client --schema $W/schema.sql --data $W/data.sql
head -c $(($(stat -c %s $W/full.zip) / 2)) $W/full.zip >$W/truncated.zip
check_refused "truncated" $W/truncated.zip
"$PY" -c 'import zipfile,sys; zipfile.ZipFile(sys.argv[1],"w").writestr("readme.txt","no parts")' $W/noparts.zip
check_refused "no parts" $W/noparts.zip

printf "INSERT INTO log(what) VALUES ('\xff\xfe bad');\n" >$W/latin.sql
mkpkg $W/latin.zip --server $NEW/server --data $W/latin.sql
check_refused "non-UTF-8 SQL" $W/latin.zip
printf "INSERT INTO log(what) VALUES ('unterminated);\nGO\n" >$W/unterminated.sql
mkpkg $W/unterminated.zip --server $NEW/server --data $W/unterminated.sql
check_refused "unterminated SQL string" $W/unterminated.zip

echo "== GO inside strings and comments is not a separator (applies correctly)"
cat >$W/tricky.sql <<'EOF'
/* a block comment
GO
still comment */
INSERT INTO log(what) VALUES ('line1
GO
line3');
-- GO in a line comment
GO
INSERT INTO log(what) VALUES ('second');
go 2
EOF
mkpkg $W/tricky.zip --data $W/tricky.sql
agent apply $W/tricky.zip --config $CFG --version "$V" --json
expect_state 100
[ "$(sqlite3 $N/db/main.db "SELECT count(*) FROM log WHERE what LIKE 'line1%GO%line3'")" = 1 ] || fail "GO in string split"
[ "$(sqlite3 $N/db/main.db "SELECT count(*) FROM log WHERE what = 'second'")" = 2 ] || fail "GO 2 not repeated"

echo "PASS engine_hostile"
