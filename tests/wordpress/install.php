<?php
/**
 * Installs the test site (called by setup.sh):
 *
 *   php install.php <wp-dir> <permalink-structure>   wp_install() and the fixtures
 *   php install.php <wp-dir> --activate              activates plugins/purgehook/purgehook.php
 *
 * @package purgehook-test
 */

if ( 'cli' !== PHP_SAPI || $argc < 3 ) {
	fwrite( STDERR, "usage: php install.php <wp-dir> (<permalink-structure> | --activate)\n" );
	exit( 2 );
}
$wp_dir = rtrim( $argv[1], '/' );

if ( '--activate' === $argv[2] ) {
	require $wp_dir . '/wp-load.php';
	require_once ABSPATH . 'wp-admin/includes/plugin.php';
	$result = activate_plugin( 'purgehook/purgehook.php' );
	if ( is_wp_error( $result ) ) {
		fwrite( STDERR, 'activation failed: ' . $result->get_error_message() . "\n" );
		exit( 1 );
	}
	fwrite( STDERR, "install.php: plugin purgehook/purgehook.php activated\n" );
	exit( 0 );
}

define( 'WP_INSTALLING', true );
require $wp_dir . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
add_filter( 'pre_wp_mail', '__return_true' ); // No sendmail here: skip the "new site" mail.

$result = wp_install( 'purgehook test', 'admin', 'admin@example.com', true, '', 'admin-password' );
if ( empty( $result['user_id'] ) ) {
	fwrite( STDERR, "wp_install() failed\n" );
	exit( 1 );
}
wp_set_current_user( (int) $result['user_id'] );

// Pretty permalinks (or plain with ""); no .htaccess: nothing serves this site.
global $wp_rewrite;
$wp_rewrite->set_permalink_structure( $argv[2] );
flush_rewrite_rules( false );

// Fixtures the driver uses: News > Local, a tag, the test theme.
$news  = wp_insert_term( 'News', 'category', array( 'slug' => 'news' ) );
$local = wp_insert_term( 'Local', 'category', array( 'slug' => 'local', 'parent' => $news['term_id'] ) );
wp_insert_term( 'purgehook', 'post_tag', array( 'slug' => 'purgehook' ) );
switch_theme( 'purgehook-a' );

fwrite(
	STDERR,
	sprintf(
		"install.php: WordPress %s installed at %s (database %s, permalinks %s)\n",
		get_bloginfo( 'version' ),
		home_url( '/' ),
		DB_NAME,
		'' === $argv[2] ? 'plain' : $argv[2]
	)
);
