#!/bin/sh
# Removes a test site made by setup.sh: its database and its directory.
#
#   tests/wordpress/teardown.sh WP_DIR
set -eu
[ $# -eq 1 ] || { echo "usage: teardown.sh WP_DIR" >&2; exit 2; }
[ -e "$1/.purgehook-test" ] || { echo "teardown.sh: $1 was not made by setup.sh" >&2; exit 1; }
WP_DIR=$(cd "$1" && pwd)
DB_NAME=purgehook_wp_$(printf %s "$WP_DIR" | md5sum | cut -c1-12)
mariadb --protocol=socket -uroot -e "DROP DATABASE IF EXISTS \`$DB_NAME\`"
rm -rf "$WP_DIR"
