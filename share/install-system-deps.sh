#!/bin/sh
# Installs the system tools the test suite drives for real. Needs root and apt-get; elsewhere it
# says what is missing and the tests that need it skip with that reason.
missing=""
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing:$missing"
    (apt-get install -y -qq $missing >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq $missing >/dev/null; }) \
        || echo "could not install:$missing (tests that need them will skip)"
else
    echo "not installed:$missing (install them to run every test; those tests skip meanwhile)"
fi
