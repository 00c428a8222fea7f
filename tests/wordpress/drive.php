<?php
/**
 * Drives one WordPress "request" for purgehook's end-to-end tests: loads
 * WordPress from php-cli the way WP-CLI does (require wp-load.php), performs
 * one editorial action, and lets the request end, so the plugin sends what it
 * collected at shutdown.
 *
 *   php tests/wordpress/drive.php <wp-dir> <action> [args...]
 *
 * Prints ONE JSON line on stdout, at the very end of the process (after the
 * plugin's shutdown flush):
 *
 *   {"action": "publish", "post_id": 7,
 *    "permalink": "http://wp.test/hello-7/",          the driver's own view, after the action
 *    "old_permalink": "http://wp.test/hello/",        before the action (rename, trash, unpublish, delete)
 *    "expect": {"deliveries": 1, "type": "post.published",
 *               "urls": [...],          must all be in data.related_urls
 *               "absent_urls": [...],   must not be (a "__trashed" URL)
 *               "old_permalink": ...,   data.post.old_permalink, when set
 *               "reason": "..."},       site.changed: data.reason must contain it
 *    "deliveries": [{"id": "msg_…", "type": "post.published", "code": 202,
 *                    "error": "", "ms": 12, "attempt": 0, "payload": {…}}],
 *    "observed": ["pre_post_update:7", "clean_post_cache:7", …],   hooks the plugin saw
 *    "action_ms": 40, "total_ms": 55}   the action alone; the action plus the plugin's sending
 *
 * "expected" values are computed here with WordPress's own functions, not
 * with the plugin's code. The plugin's settings come from the environment
 * (PURGEHOOK_URL, PURGEHOOK_SECRET, PURGEHOOK_MAX_URLS, PURGEHOOK_TIMEOUT,
 * PURGEHOOK_DEBUG), read by the wp-config.php that setup.sh wrote.
 *
 * Actions (ID = a post id printed by an earlier action):
 *
 *   publish [TITLE]      a new published post in News > Local, tagged purgehook   -> 1 post.published
 *   update ID            new title and content                                    -> 1 post.updated
 *   rename ID [SLUG]     new slug                                                 -> 1 post.updated, old_permalink
 *   unpublish ID         back to draft                                            -> 1 post.unpublished, old_permalink
 *   schedule [TITLE]     a post scheduled an hour ahead (status future)           -> 0
 *   publish-future ID    time passes (post date and cron event moved to the past),
 *                        then the due publish_future_post event runs as wp-cron.php
 *                        runs it (DOING_CRON, check_and_publish_future_post)     -> 1 post.published
 *   trash ID             wp_trash_post()                                          -> 1 post.trashed, old_permalink without __trashed
 *   delete ID            wp_delete_post( ID, true )                               -> 1 post.deleted
 *   builder-save ID      a page builder's save: meta, wp_update_post(), then
 *                        clean_post_cache() five times                            -> 1 post.updated
 *   comment ID           a new approved comment                                   -> 1 post.updated
 *   draft [TITLE]        a new draft                                              -> 0
 *   autosave ID          an autosave of a published post (DOING_AUTOSAVE)         -> 0
 *   import [TITLE]       a published post inserted under WP_IMPORTING             -> 0
 *   noop                 loads WordPress, changes nothing                         -> 0
 *   switch-theme         purgehook-a <-> purgehook-b                              -> 1 site.changed "theme switched"
 *   save-menu            a menu with an item, saved, assigned to a location       -> 1 site.changed "menu saved"
 *   save-widgets         a text widget placed in the sidebar                      -> 1 site.changed "widgets saved"
 *   save-block           a reusable block (wp_block) published                   -> 1 site.changed "reusable block saved"
 *   edit-term [SLUG]     a category's name and description edited (default news)  -> 1 site.changed "term edited"
 *   run-retries          time passes: WP-Cron runs every pending purgehook_retry
 *                        event (deliveries that failed earlier)                   -> 1 per retry, same webhook-id
 *   bulk N               N posts published in one request, each in its own new
 *                        category: N <= 2 -> N post.published; N >= 10 -> 1 site.changed
 *                        "too many related URLs" (with PURGEHOOK_MAX_URLS unset)
 *
 * @package purgehook-test
 */

if ( 'cli' !== PHP_SAPI || $argc < 3 ) {
	fwrite( STDERR, "usage: php drive.php <wp-dir> <action> [args...]\n" );
	exit( 2 );
}

$ph_wp_dir = rtrim( $argv[1], '/' );
$ph_action = $argv[2];
$ph_args   = array_slice( $argv, 3 );

// What the real request would have defined before loading WordPress.
if ( 'publish-future' === $ph_action || 'run-retries' === $ph_action ) {
	define( 'DOING_CRON', true );
}
if ( 'import' === $ph_action ) {
	define( 'WP_IMPORTING', true );
}
if ( 'autosave' === $ph_action ) {
	define( 'DOING_AUTOSAVE', true );
}

$ph_started = microtime( true );
require $ph_wp_dir . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/post.php';
require_once ABSPATH . 'wp-admin/includes/nav-menu.php';

add_filter( 'pre_wp_mail', '__return_true' ); // No sendmail here.
wp_set_current_user( 1 );

$ph_observed   = array();
$ph_deliveries = array();
add_action(
	'purgehook_observed',
	function ( $hook, $post_id ) use ( &$ph_observed ) {
		$ph_observed[] = $post_id ? $hook . ':' . $post_id : $hook;
	},
	10,
	2
);
add_action(
	'purgehook_delivered',
	function ( $payload, $result ) use ( &$ph_deliveries ) {
		unset( $result['time'] );
		$result['payload'] = $payload;
		$ph_deliveries[]   = $result;
	},
	10,
	2
);

/**
 * Fails the driver (exit 1) with a message on stderr.
 *
 * @param string $message Why.
 */
function ph_fail( $message ) {
	fwrite( STDERR, 'drive.php: ' . $message . "\n" );
	exit( 1 );
}

/**
 * The post id argument.
 *
 * @param array $args Arguments.
 * @return int
 */
function ph_id( array $args ) {
	$id = isset( $args[0] ) ? (int) $args[0] : 0;
	if ( $id <= 0 || ! get_post( $id ) ) {
		ph_fail( 'this action needs the id of an existing post' );
	}
	return $id;
}

/**
 * A term id by slug.
 *
 * @param string $slug     Slug.
 * @param string $taxonomy Taxonomy.
 * @return int
 */
function ph_term( $slug, $taxonomy ) {
	$term = get_term_by( 'slug', $slug, $taxonomy );
	if ( ! $term ) {
		ph_fail( "no $taxonomy $slug: run setup.sh first" );
	}
	return (int) $term->term_id;
}

/**
 * Page N of a listing, computed independently of the plugin.
 *
 * @param string $url  First page.
 * @param int    $page Page.
 * @return string
 */
function ph_paged( $url, $page ) {
	return get_option( 'permalink_structure' ) ? trailingslashit( $url ) . 'page/' . $page . '/' : add_query_arg( 'paged', $page, $url );
}

/**
 * URLs a post event must carry, for a post in News > Local tagged purgehook by user 1.
 *
 * @param int    $post_id   Post id.
 * @param string $permalink Its (public) permalink.
 * @return string[]
 */
function ph_expected_urls( $post_id, $permalink ) {
	$news  = get_category_link( ph_term( 'news', 'category' ) );
	$local = get_category_link( ph_term( 'local', 'category' ) );
	$tag   = get_tag_link( ph_term( 'purgehook', 'post_tag' ) );
	$urls = array(
		$permalink,
		rest_url( 'wp/v2/posts/' . $post_id ),
		home_url( '/' ),
		ph_paged( home_url( '/' ), 2 ),
		ph_paged( home_url( '/' ), 3 ),
		$news,
		get_category_feed_link( ph_term( 'news', 'category' ) ),
		ph_paged( $news, 2 ),
		$local,
		ph_paged( $local, 3 ),
		$tag,
		get_author_posts_url( 1 ),
		get_author_feed_link( 1 ),
		get_feed_link( 'rss2' ),
		get_feed_link( 'atom' ),
		get_feed_link( 'comments_rss2' ),
	);
	// Plain permalinks: term and author feed links come HTML-escaped (&amp;).
	return array_map( 'wp_specialchars_decode', $urls );
}

/**
 * Arguments of a test post.
 *
 * @param string $title Title.
 * @param array  $extra More fields.
 * @return array
 */
function ph_post( $title, array $extra = array() ) {
	return array_merge(
		array(
			'post_title'    => $title,
			'post_content'  => 'Content of ' . $title,
			'post_status'   => 'publish',
			'post_author'   => 1,
			'post_category' => array( ph_term( 'local', 'category' ) ),
			'tags_input'    => array( 'purgehook' ),
		),
		$extra
	);
}

/**
 * wp_insert_post() or fail.
 *
 * @param array $args Post fields.
 * @return int
 */
function ph_insert( array $args ) {
	$id = wp_insert_post( $args, true );
	if ( is_wp_error( $id ) ) {
		ph_fail( $id->get_error_message() );
	}
	return (int) $id;
}

/**
 * The report of a post action expecting one delivery.
 *
 * @param int         $id            Post id.
 * @param string      $type          Expected event type.
 * @param string      $permalink     Permalink to expect.
 * @param string|null $old_permalink Old permalink to expect.
 * @return array
 */
function ph_post_report( $id, $type, $permalink, $old_permalink = null ) {
	$urls = ph_expected_urls( $id, $permalink );
	if ( $old_permalink === $permalink ) {
		$old_permalink = null; // Plain permalinks: ?p=ID before and after.
	}
	if ( $old_permalink ) {
		$urls[] = $old_permalink;
	}
	$report = array(
		'post_id'   => $id,
		'permalink' => $permalink,
		'expect'    => array(
			'deliveries' => 1,
			'type'       => $type,
			'urls'       => $urls,
		),
	);
	if ( $old_permalink ) {
		$report['old_permalink']            = $old_permalink;
		$report['expect']['old_permalink']  = $old_permalink;
		$report['expect']['absent_urls']    = array( trailingslashit( untrailingslashit( $old_permalink ) . '__trashed' ) );
	}
	return $report;
}

/** A report expecting nothing sent. */
function ph_nothing( array $report = array() ) {
	$report['expect'] = array( 'deliveries' => 0 );
	return $report;
}

/** A report expecting one site.changed. */
function ph_site( $reason, array $report = array() ) {
	$report['expect'] = array(
		'deliveries' => 1,
		'type'       => 'site.changed',
		'reason'     => $reason,
	);
	return $report;
}

/**
 * What wp-cron.php does for each due event of $only_hook: unschedule it, then
 * run its hook (other due events, like update checks, would try the network).
 *
 * @param string $only_hook The cron hook to run.
 */
function ph_run_due_cron( $only_hook ) {
	foreach ( wp_get_ready_cron_jobs() as $timestamp => $hooks ) {
		foreach ( $hooks as $hook => $events ) {
			if ( $only_hook !== $hook ) {
				continue;
			}
			foreach ( $events as $event ) {
				wp_unschedule_event( $timestamp, $hook, $event['args'] );
				do_action_ref_array( $hook, $event['args'] );
			}
		}
	}
}

$ph_title = isset( $ph_args[0] ) ? $ph_args[0] : 'Hello purgehook ' . wp_rand( 1000, 9999 );
$ph_t0    = microtime( true );

switch ( $ph_action ) {
	case 'publish':
		$id     = ph_insert( ph_post( $ph_title ) );
		$report = ph_post_report( $id, 'post.published', get_permalink( $id ) );
		break;

	case 'update':
		$id = ph_id( $ph_args );
		wp_update_post(
			array(
				'ID'           => $id,
				'post_title'   => get_the_title( $id ) . ' (updated)',
				'post_content' => 'Updated at ' . gmdate( 'c' ),
			)
		);
		$report = ph_post_report( $id, 'post.updated', get_permalink( $id ) );
		break;

	case 'rename':
		$id  = ph_id( array_slice( $ph_args, 0, 1 ) );
		$old = get_permalink( $id );
		wp_update_post(
			array(
				'ID'        => $id,
				'post_name' => isset( $ph_args[1] ) ? $ph_args[1] : get_post( $id )->post_name . '-renamed',
			)
		);
		$report = ph_post_report( $id, 'post.updated', get_permalink( $id ), $old );
		break;

	case 'unpublish':
		$id  = ph_id( $ph_args );
		$old = get_permalink( $id );
		wp_update_post(
			array(
				'ID'          => $id,
				'post_status' => 'draft',
			)
		);
		$report = ph_post_report( $id, 'post.unpublished', get_permalink( $id ), $old );
		break;

	case 'schedule':
		$at     = time() + HOUR_IN_SECONDS;
		$id     = ph_insert(
			ph_post(
				$ph_title,
				array(
					'post_status'   => 'future',
					'post_date_gmt' => gmdate( 'Y-m-d H:i:s', $at ),
					'post_date'     => get_date_from_gmt( gmdate( 'Y-m-d H:i:s', $at ) ),
				)
			)
		);
		$report = ph_nothing(
			array(
				'post_id'     => $id,
				'post_status' => get_post_status( $id ),
				'cron_at'     => wp_next_scheduled( 'publish_future_post', array( $id ) ),
			)
		);
		break;

	case 'publish-future':
		$id = ph_id( $ph_args );
		if ( 'future' !== get_post_status( $id ) ) {
			ph_fail( "post $id is not scheduled" );
		}
		// Time passes: the post's date and its cron event move a minute into the past.
		$past = time() - MINUTE_IN_SECONDS;
		$wpdb->update(
			$wpdb->posts,
			array(
				'post_date'     => get_date_from_gmt( gmdate( 'Y-m-d H:i:s', $past ) ),
				'post_date_gmt' => gmdate( 'Y-m-d H:i:s', $past ),
			),
			array( 'ID' => $id )
		);
		clean_post_cache( $id );
		wp_clear_scheduled_hook( 'publish_future_post', array( $id ) );
		wp_schedule_single_event( $past, 'publish_future_post', array( $id ) );
		$ph_t0 = microtime( true );
		ph_run_due_cron( 'publish_future_post' );
		if ( 'publish' !== get_post_status( $id ) ) {
			ph_fail( "post $id was not published by its cron event" );
		}
		$report = ph_post_report( $id, 'post.published', get_permalink( $id ) );
		break;

	case 'run-retries':
		// Time passes: every pending purgehook retry becomes due; then WP-Cron runs them.
		$retries = array();
		foreach ( (array) _get_cron_array() as $timestamp => $hooks ) {
			if ( isset( $hooks['purgehook_retry'] ) ) {
				foreach ( $hooks['purgehook_retry'] as $event ) {
					$retries[] = $event['args'];
				}
			}
		}
		foreach ( $retries as $args ) {
			wp_clear_scheduled_hook( 'purgehook_retry', $args );
			wp_schedule_single_event( time() - 1, 'purgehook_retry', $args );
		}
		$ph_t0 = microtime( true );
		ph_run_due_cron( 'purgehook_retry' );
		$report = array(
			'retry_ids' => array_map(
				function ( $args ) {
					return $args[0]['id'];
				},
				$retries
			),
			'expect'    => array( 'deliveries' => count( $retries ) ),
		);
		break;

	case 'trash':
		$id  = ph_id( $ph_args );
		$old = get_permalink( $id );
		wp_trash_post( $id );
		$report = ph_post_report( $id, 'post.trashed', get_permalink( $id ), $old );
		// get_permalink() of the trashed post is ?p=ID: the term archives etc. are still expected.
		break;

	case 'delete':
		$id        = ph_id( $ph_args );
		$permalink = get_permalink( $id );
		$urls      = ph_expected_urls( $id, $permalink ); // Before the terms go with the post.
		wp_delete_post( $id, true );
		if ( get_post( $id ) ) {
			ph_fail( "post $id was not deleted" );
		}
		$report = array(
			'post_id'   => $id,
			'permalink' => $permalink,
			'expect'    => array(
				'deliveries' => 1,
				'type'       => 'post.deleted',
				'urls'       => $urls,
			),
		);
		break;

	case 'builder-save':
		$id = ph_id( $ph_args );
		update_post_meta( $id, '_builder_data', wp_json_encode( array( 'rows' => wp_rand() ) ) );
		update_post_meta( $id, '_builder_css', '.row{color:#' . wp_rand( 100, 999 ) . '}' );
		wp_update_post(
			array(
				'ID'           => $id,
				'post_content' => 'Rendered by the builder at ' . gmdate( 'c' ),
			)
		);
		for ( $i = 0; $i < 5; $i++ ) {
			clean_post_cache( $id );
		}
		$report = ph_post_report( $id, 'post.updated', get_permalink( $id ) );
		break;

	case 'comment':
		$id = ph_id( $ph_args );
		wp_insert_comment(
			array(
				'comment_post_ID'      => $id,
				'comment_author'       => 'Reader',
				'comment_author_email' => 'reader@example.com',
				'comment_content'      => 'Nice post.',
				'comment_approved'     => 1,
			)
		);
		$report = ph_post_report( $id, 'post.updated', get_permalink( $id ) );
		break;

	case 'draft':
		$id     = ph_insert( ph_post( $ph_title, array( 'post_status' => 'draft' ) ) );
		$report = ph_nothing( array( 'post_id' => $id ) );
		break;

	case 'autosave':
		$id       = ph_id( $ph_args );
		$autosave = wp_create_post_autosave(
			array(
				'post_ID'      => $id,
				'post_title'   => get_the_title( $id ),
				'post_content' => 'Autosaved at ' . gmdate( 'c' ),
				'post_excerpt' => '',
			)
		);
		if ( is_wp_error( $autosave ) || ! $autosave ) {
			ph_fail( 'autosave failed' );
		}
		$report = ph_nothing(
			array(
				'post_id'     => $id,
				'autosave_id' => (int) $autosave,
			)
		);
		break;

	case 'import':
		$id     = ph_insert( ph_post( $ph_title ) );
		$report = ph_nothing( array( 'post_id' => $id ) );
		break;

	case 'noop':
		$report = ph_nothing();
		break;

	case 'switch-theme':
		$to = 'purgehook-a' === get_stylesheet() ? 'purgehook-b' : 'purgehook-a';
		switch_theme( $to );
		$report = ph_site( 'theme switched', array( 'theme' => $to ) );
		break;

	case 'save-menu':
		$menu_id = wp_create_nav_menu( 'Main ' . wp_rand( 1000, 9999 ) );
		if ( is_wp_error( $menu_id ) ) {
			ph_fail( $menu_id->get_error_message() );
		}
		wp_update_nav_menu_item(
			$menu_id,
			0,
			array(
				'menu-item-title'  => 'Home',
				'menu-item-url'    => home_url( '/' ),
				'menu-item-status' => 'publish',
				'menu-item-type'   => 'custom',
			)
		);
		// The menus screen ends its save with wp_update_nav_menu; wp_update_nav_menu_object() fires it.
		wp_update_nav_menu_object( $menu_id, array( 'menu-name' => 'Main menu ' . $menu_id ) );
		set_theme_mod( 'nav_menu_locations', array( 'primary' => $menu_id ) );
		$report = ph_site( 'menu saved', array( 'menu_id' => $menu_id ) );
		break;

	case 'save-widgets':
		$widgets        = get_option( 'widget_text', array() );
		$number         = max( array_merge( array( 1 ), array_filter( array_keys( (array) $widgets ), 'is_int' ) ) ) + 1;
		$widgets[ $number ] = array(
			'title' => 'About',
			'text'  => 'Saved at ' . gmdate( 'c' ),
		);
		update_option( 'widget_text', $widgets );
		$sidebars              = wp_get_sidebars_widgets();
		$sidebars['sidebar']   = isset( $sidebars['sidebar'] ) ? $sidebars['sidebar'] : array();
		$sidebars['sidebar'][] = 'text-' . $number;
		wp_set_sidebars_widgets( $sidebars );
		$report = ph_site( 'widgets saved' );
		break;

	case 'save-block':
		$block = ph_insert(
			array(
				'post_type'    => 'wp_block',
				'post_status'  => 'publish',
				'post_title'   => 'Call to action ' . wp_rand( 1000, 9999 ),
				'post_content' => '<!-- wp:paragraph --><p>Subscribe!</p><!-- /wp:paragraph -->',
			)
		);
		$report = ph_site( 'reusable block saved', array( 'block_id' => $block ) );
		break;

	case 'edit-term':
		$slug    = isset( $ph_args[0] ) ? $ph_args[0] : 'news';
		$term_id = ph_term( $slug, 'category' );
		wp_update_term(
			$term_id,
			'category',
			array(
				'name'        => get_term( $term_id )->name . ' (edited)',
				'description' => 'Edited at ' . gmdate( 'c' ),
			)
		);
		$report = ph_site( 'term edited', array( 'term_id' => $term_id ) );
		break;

	case 'bulk':
		$n   = max( 1, (int) ( isset( $ph_args[0] ) ? $ph_args[0] : 2 ) );
		$ids = array();
		for ( $i = 1; $i <= $n; $i++ ) {
			$category = wp_insert_term( 'Bulk ' . wp_rand() . " $i", 'category' );
			$ids[]    = ph_insert( ph_post( "$ph_title ($i)", array( 'post_category' => array( $category['term_id'] ) ) ) );
		}
		$report = array( 'post_ids' => $ids );
		if ( $n <= 2 ) {
			$report['expect'] = array(
				'deliveries' => $n,
				'type'       => 'post.published',
			);
		} elseif ( $n >= 10 ) {
			$report = ph_site( 'too many related URLs', $report );
		}
		break;

	default:
		ph_fail( "unknown action $ph_action" );
}

$report = array_merge( array( 'action' => $ph_action ), $report );

$ph_action_ms = (int) round( ( microtime( true ) - $ph_t0 ) * 1000 );
add_action(
	'shutdown',
	function () use ( &$report, &$ph_observed, &$ph_deliveries, $ph_t0, $ph_action_ms ) {
		$report['deliveries'] = $ph_deliveries;
		$report['observed']   = $ph_observed;
		$report['action_ms']  = $ph_action_ms;
		$report['total_ms']   = (int) round( ( microtime( true ) - $ph_t0 ) * 1000 );
		echo wp_json_encode( $report, JSON_UNESCAPED_SLASHES ), "\n";
	},
	PHP_INT_MAX
);
