#!/bin/sh
# Sets up a throwaway WordPress (Debian's `wordpress` package) with the
# purgehook plugin, for the end-to-end tests of integrations/wordpress.
#
#   tests/wordpress/setup.sh [WP_DIR]
#
# Prints the WordPress directory (the only line on stdout; progress goes to
# stderr). Idempotent: run it again on the same WP_DIR for a fresh site.
#
#   - installs wordpress, php-cli, php-mysql and mariadb-server when absent
#     (apt-get, as root), starts MariaDB when it is not running;
#   - WP_DIR (default: a new /tmp/purgehook-wp.XXXXXX) gets copies of
#     WordPress's top-level PHP files, symlinks to /usr/share/wordpress's
#     wp-admin and wp-includes, its own wp-content (two tiny themes, the
#     plugin) and its own wp-config.php: nothing under /etc/wordpress or
#     /var/lib/wordpress is touched, and several WP_DIRs can coexist;
#   - a fresh database purgehook_wp_<hash of WP_DIR> (user purgehook_wp);
#     tests/wordpress/teardown.sh WP_DIR drops it and removes WP_DIR;
#   - wp_install() from php-cli, a category "News" (child "Local"), a tag,
#     pretty permalinks;
#   - the plugin, as a must-use plugin (symlink into wp-content/mu-plugins),
#     or with PURGEHOOK_WP_MODE=plugin as a regular plugin, activated.
#
# Environment:
#   PURGEHOOK_WP_MODE        mu (default) | plugin
#   PURGEHOOK_WP_PERMALINKS  permalink structure, default /%postname%/ ("" = plain ?p=ID)
#   PURGEHOOK_WP_HOME        site URL, default http://wp.test (no web server is needed)
#   PURGEHOOK_WP_DB_HOST     WordPress's DB_HOST, default 127.0.0.1:3306 ("localhost" = the socket)
#
# Run it as root: it may call apt-get, and it creates the database as
# MariaDB's root through the socket (unix_socket authentication).
#
# At run time the generated wp-config.php defines PURGEHOOK_URL,
# PURGEHOOK_SECRET, PURGEHOOK_MAX_URLS, PURGEHOOK_TIMEOUT and PURGEHOOK_DEBUG
# from environment variables of the same names, so each php process can
# point the plugin at the purgehook under test.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PLUGIN_DIR="$REPO/integrations/wordpress"
MODE=${PURGEHOOK_WP_MODE:-mu}
PERMALINKS=${PURGEHOOK_WP_PERMALINKS-/%postname%/}
HOME_URL=${PURGEHOOK_WP_HOME:-http://wp.test}
DB_HOST=${PURGEHOOK_WP_DB_HOST:-127.0.0.1:3306}
DB_USER=purgehook_wp
DB_PASSWORD=purgehook_wp

say() { echo "setup.sh: $*" >&2; }

# 1. Packages.
missing=""
for pkg in wordpress php-cli php-mysql mariadb-server; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	say "installing$missing"
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >&2
fi

# 2. MariaDB.
if ! mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; then
	say "starting MariaDB"
	install -d -o mysql -g mysql /run/mysqld
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
	i=0
	until mariadb-admin --protocol=socket -uroot ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt 60 ] || { say "MariaDB did not start"; exit 1; }
		sleep 0.5
	done
fi

# 3. The WordPress directory.
if [ $# -ge 1 ]; then
	WP_DIR=$1
	if [ -e "$WP_DIR" ] && [ ! -e "$WP_DIR/.purgehook-test" ] && [ -n "$(ls -A "$WP_DIR")" ]; then
		say "$WP_DIR exists and was not made by this script; refusing to touch it"
		exit 1
	fi
	rm -rf "$WP_DIR"
	mkdir -p "$WP_DIR"
else
	WP_DIR=$(mktemp -d /tmp/purgehook-wp.XXXXXX)
fi
WP_DIR=$(cd "$WP_DIR" && pwd)
touch "$WP_DIR/.purgehook-test"
# Top-level files are copied: wp-load.php finds wp-config.php next to itself
# (PHP resolves symlinks in __DIR__, so a symlinked wp-load.php would load
# Debian's /usr/share/wordpress/wp-config.php).
for f in /usr/share/wordpress/*.php; do
	[ "$(basename "$f")" = wp-config.php ] || cp "$f" "$WP_DIR/"
done
ln -s /usr/share/wordpress/wp-admin "$WP_DIR/wp-admin"
ln -s /usr/share/wordpress/wp-includes "$WP_DIR/wp-includes"
mkdir -p "$WP_DIR/wp-content/plugins" "$WP_DIR/wp-content/mu-plugins" "$WP_DIR/wp-content/themes" "$WP_DIR/wp-content/uploads"
cp -r "$HERE/themes/purgehook-a" "$HERE/themes/purgehook-b" "$WP_DIR/wp-content/themes/"

# 4. A fresh database.
# One database per directory (a hash of its path): parallel tests do not collide.
DB_NAME=purgehook_wp_$(printf %s "$WP_DIR" | md5sum | cut -c1-12)
say "database $DB_NAME"
mariadb --protocol=socket -uroot <<SQL
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON \`purgehook\\_wp\\_%\`.* TO '$DB_USER'@'localhost';
GRANT ALL PRIVILEGES ON \`purgehook\\_wp\\_%\`.* TO '$DB_USER'@'127.0.0.1';
DROP DATABASE IF EXISTS \`$DB_NAME\`;
CREATE DATABASE \`$DB_NAME\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
SQL

# 5. wp-config.php.
salts=$(php -r 'foreach (["AUTH_KEY","SECURE_AUTH_KEY","LOGGED_IN_KEY","NONCE_KEY","AUTH_SALT","SECURE_AUTH_SALT","LOGGED_IN_SALT","NONCE_SALT"] as $k) printf("define( %s, %s );\n", var_export($k, true), var_export(bin2hex(random_bytes(32)), true));')
cat > "$WP_DIR/wp-config.php" <<PHP
<?php
// Generated by purgehook's tests/wordpress/setup.sh for a throwaway test site.
define( 'DB_NAME', '$DB_NAME' );
define( 'DB_USER', '$DB_USER' );
define( 'DB_PASSWORD', '$DB_PASSWORD' );
define( 'DB_HOST', '$DB_HOST' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
\$table_prefix = 'wp_';
$salts
define( 'WP_HOME', '$HOME_URL' );
define( 'WP_SITEURL', '$HOME_URL' );
define( 'WP_CONTENT_DIR', __DIR__ . '/wp-content' );
define( 'WP_CONTENT_URL', '$HOME_URL/wp-content' );
define( 'WP_DEFAULT_THEME', 'purgehook-a' );
define( 'DISABLE_WP_CRON', true );          // no wp-cron.php spawns; tests run cron work themselves
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_DEBUG', false );
// The plugin's settings come from the environment of each php process.
foreach ( array( 'PURGEHOOK_URL', 'PURGEHOOK_SECRET', 'PURGEHOOK_MAX_URLS', 'PURGEHOOK_TIMEOUT', 'PURGEHOOK_DEBUG' ) as \$purgehook_name ) {
	\$purgehook_value = getenv( \$purgehook_name );
	if ( false !== \$purgehook_value && '' !== \$purgehook_value ) {
		define( \$purgehook_name, \$purgehook_value );
	}
}
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
PHP

# 6. Install WordPress (the plugin is not there yet: nothing is sent).
env -u PURGEHOOK_URL -u PURGEHOOK_SECRET php "$HERE/install.php" "$WP_DIR" "$PERMALINKS" >&2

# 7. The plugin.
case "$MODE" in
mu)
	ln -s "$PLUGIN_DIR/purgehook.php" "$WP_DIR/wp-content/mu-plugins/purgehook.php"
	;;
plugin)
	ln -s "$PLUGIN_DIR" "$WP_DIR/wp-content/plugins/purgehook"
	env -u PURGEHOOK_URL -u PURGEHOOK_SECRET php "$HERE/install.php" "$WP_DIR" --activate >&2
	;;
*)
	say "PURGEHOOK_WP_MODE must be mu or plugin"
	exit 1
	;;
esac

say "ready ($MODE plugin)"
echo "$WP_DIR"
