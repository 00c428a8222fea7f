<?php
/**
 * Plugin Name:       purgehook
 * Description:       Tells purgehook exactly what changed — a post and its related pages, or the whole site — with one Standard Webhooks-signed delivery per change, sent at the end of the request.
 * Version:           0.1.0
 * Requires at least: 5.5
 * Requires PHP:      7.4
 * Author:            purgehook
 * License:           MIT
 * Text Domain:       purgehook
 *
 * @package purgehook
 *
 * INSTALL
 *
 * One file. Either a regular plugin (wp-content/plugins/purgehook/purgehook.php,
 * then activate it) or a must-use plugin (copy it to wp-content/mu-plugins/).
 * Configure it in wp-config.php:
 *
 *     define( 'PURGEHOOK_URL', 'https://purge.example.com/hooks/wp' );
 *     define( 'PURGEHOOK_SECRET', 'whsec_...' );   // the source's Standard Webhooks secret
 *     define( 'PURGEHOOK_MAX_URLS', 50 );          // optional, see below
 *     define( 'PURGEHOOK_TIMEOUT', 2 );            // optional, seconds, at most 2
 *     define( 'PURGEHOOK_DEBUG', true );           // optional: log every hook seen and every delivery
 *
 * Settings > purgehook can hold the same values in the database; a constant
 * always wins over the option. Without a URL and a secret nothing is sent.
 *
 * WHAT IS SENT
 *
 * POST PURGEHOOK_URL with Content-Type: application/json and the Standard
 * Webhooks headers webhook-id (msg_...), webhook-timestamp (Unix seconds) and
 * webhook-signature (v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}",
 * keyed by the base64-decoded secret after "whsec_">). The body:
 *
 *     {"type": "post.published", "timestamp": "2026-11-23T20:31:00Z",
 *      "data": {"post": {"ID": 42, "post_type": "post", "post_status": "publish",
 *                        "post_name": "hello", "post_title": "Hello",
 *                        "permalink": "https://blog.example.com/hello/",
 *                        "old_permalink": "https://blog.example.com/hi/",   (only when it differs)
 *                        "author": 1,
 *                        "terms": {"category": [{"term_id": 1, "slug": "news", "name": "News"}]}},
 *               "related_urls": ["https://blog.example.com/hello/", ...],
 *               "site_url": "https://blog.example.com/"}}
 *
 *     {"type": "site.changed", "timestamp": "...",
 *      "data": {"site_url": "https://blog.example.com/", "reason": "theme switched",
 *               "reasons": ["theme switched"],
 *               "post_ids": [42],                           (posts that also changed, if any)
 *               "terms": [{"term_id": 3, "taxonomy": "category", "slug": "news", "name": "News"}]}}
 *                                                           (terms edited or deleted, if any)
 *
 * data.post is the post at the end of the request (for post.deleted, as it was
 * just before deletion): a trashed post's post_name keeps WordPress's
 * "__trashed" suffix and its permalink is ?p=ID; old_permalink is the URL it
 * had while public.
 *
 * EVENTS (a post is "public" when its status is publish, its type viewable and not an attachment)
 *
 *   post.published    not public at the start of the request, public at the end
 *                     (first publish, draft/pending/private -> publish, and the
 *                     scheduled future -> publish that WP-Cron does)
 *   post.updated      public at the start and at the end: an edit, a rename, new
 *                     terms, an approved comment, a page builder saving its data
 *   post.unpublished  public at the start, then draft, pending, private or future
 *   post.trashed      public at the start, in the trash at the end
 *   post.deleted      public at the start, deleted (wp_delete_post) at the end
 *   site.changed      theme switched, theme settings or customizer saved, menu
 *                     saved or deleted, widgets saved, a public term edited or
 *                     deleted, site title/tagline/permalinks/front page changed,
 *                     a site editor template, template part, global styles or
 *                     navigation menu saved, a reusable block saved, and "too
 *                     many related URLs" (below)
 *
 * Hooks listened to: transition_post_status, pre_post_update, post_updated,
 * wp_trash_post, before_delete_post, deleted_post, clean_post_cache (except
 * while WP-Cron does pings), wp_insert_comment, transition_comment_status,
 * edit_comment, edit_terms / edited_term, pre_delete_term / delete_term,
 * switch_theme, wp_update_nav_menu, wp_delete_nav_menu,
 * update_option_sidebars_widgets, updated_option (widget_* options, a few site
 * options, theme mods), customize_save_after, and shutdown to send. Site-wide
 * post types (wp_template, wp_template_part, wp_global_styles, wp_navigation,
 * wp_block) are seen through transition_post_status. Changes made by other
 * shutdown callbacks running after the plugin's (priority 1000) are not seen.
 *
 * Nothing is sent for autosaves, revisions, auto-drafts, attachments, menu items
 * and other non-viewable post types, posts that were never public (drafts,
 * scheduling a post, deleting a post from the trash: its pages were purged
 * when it was trashed), imports (WP_IMPORTING), or while switch_to_blog() is
 * in effect on multisite.
 *
 * ONE DELIVERY PER CHANGE
 *
 * Hooks only collect. Saving one post fires pre_post_update, clean_post_cache
 * (page builders call it again and again), transition_post_status and
 * post_updated; they all land on one record per post. At shutdown each record
 * becomes one event, from the post's state at the start of the request and its
 * state at the end (the final state wins: published then updated is
 * "published", published then trashed is "trashed"). Then:
 *
 *   - if anything site-wide changed, ONE site.changed is sent (its reasons
 *     joined; the posts that also changed are listed in post_ids) and no post
 *     event, since purging everything covers them;
 *   - else, if the related URLs of all changed posts together (deduplicated)
 *     exceed PURGEHOOK_MAX_URLS (default 50), ONE site.changed with reason
 *     "too many related URLs" (as Proxy Cache Purge does);
 *   - else one post.* delivery per changed post. A single-post action (publish,
 *     update, trash, delete, a cron publish, a builder save) is exactly one
 *     delivery.
 *
 * All deliveries of a request share one time budget, PURGEHOOK_TIMEOUT (2 s at
 * most): wp_remote_post() is blocking so failures are logged with error_log(),
 * with a connect timeout of 1 s and the remaining budget as read timeout. Under
 * PHP-FPM the response is handed to the browser first (fastcgi_finish_request),
 * so an editor never waits for purgehook. A delivery that fails (network error,
 * timeout, 408, 429, 5xx) or does not fit in the budget is retried by WP-Cron
 * after 1, 5 and 30 minutes with the same webhook-id; other 4xx answers (a bad
 * signature, an unknown source) are not retried. This works the same in web
 * requests, WP-CLI and WP-Cron, which all run the shutdown hook.
 *
 * RELATED URLS (for providers that purge by URL: Cloudflare, Fastly, Varnish)
 *
 * The permalink, and the permalink it had while public if that differs
 * (renamed, trashed, unpublished: captured before the change, without the
 * "__trashed" suffix WordPress gives trashed posts); the post's comments feed;
 * its REST route; the home page and the posts page, with pages 2 and 3 of the
 * blog index; every term archive of the post (old and new terms, with the
 * ancestors of hierarchical terms, all viewable taxonomies) with its feed and
 * pages 2 and 3; the author archive and feed (old and new author); the post
 * type archive and feed when it has one; the site feeds (RSS2, Atom, comments).
 * Paged URLs follow the permalink structure (/page/2/ or ?paged=2).
 *
 * FILTERS AND ACTIONS
 *
 *   purgehook_related_urls  (string[] $urls, WP_Post $post, string $type)  the URLs of a post event
 *   purgehook_event_data    (array $data, string $type, WP_Post|null $post) add custom data to any event
 *   purgehook_post_types    (string[] $types)  the post types watched (viewable ones but attachment)
 *   purgehook_track_post    (bool $track, WP_Post $post)  return false to ignore a post
 *   purgehook_suspend       (bool $suspend)  return true to send nothing in this request
 *   purgehook_request_args  (array $args, array $envelope)  the wp_remote_post() arguments
 *   purgehook_finish_request (bool $finish)  false keeps fastcgi_finish_request() from being called
 *   purgehook_delivered     action (array $payload, array $result): after each delivery attempt;
 *                           $result has id, type, code (0 on a transport error), error, ms, attempt
 *   purgehook_observed      action (string $hook, int $post_id): a watched hook fired (debugging aid)
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

if ( ! class_exists( 'Purgehook_Plugin', false ) ) :

	/**
	 * Collects content changes during a request and sends them to purgehook at shutdown.
	 */
	final class Purgehook_Plugin {

		const VERSION = '0.1.0';

		/** The settings option (url, secret, max_urls). */
		const OPTION = 'purgehook_settings';

		/** The outcome of the last delivery, shown on the settings page. */
		const LAST_OPTION = 'purgehook_last_delivery';

		/** WP-Cron hook of delayed retries. */
		const RETRY_HOOK = 'purgehook_retry';

		/** Retry delays in seconds, by attempt number; attempts beyond are dropped. */
		const RETRY_DELAYS = array( 1 => 60, 2 => 300, 3 => 1800 );

		/** Upper bound of the time budget of a request's deliveries, in seconds. */
		const MAX_TIMEOUT = 2.0;

		/** Default cap on the related URLs of a request. */
		const DEFAULT_MAX_URLS = 50;

		/** Options whose change affects every page. */
		const SITE_OPTIONS = array(
			'blogname'            => 'site title changed',
			'blogdescription'     => 'tagline changed',
			'permalink_structure' => 'permalinks changed',
			'category_base'       => 'permalinks changed',
			'tag_base'            => 'permalinks changed',
			'show_on_front'       => 'front page changed',
			'page_on_front'       => 'front page changed',
			'page_for_posts'      => 'front page changed',
			'posts_per_page'      => 'reading settings changed',
		);

		/** Post types whose content appears on every page (site editor, reusable blocks). */
		const SITE_POST_TYPES = array(
			'wp_template'      => 'template saved',
			'wp_template_part' => 'template part saved',
			'wp_global_styles' => 'global styles saved',
			'wp_navigation'    => 'navigation menu saved',
			'wp_block'         => 'reusable block saved',
		);

		/** @var Purgehook_Plugin|null */
		private static $instance = null;

		/**
		 * Per post id: what this request saw. Keys: start (status at the start of
		 * the request, or null), strong (start comes from a hook that knows the
		 * old status), before (snapshot taken before the first change, or null),
		 * deleted (bool), post (the WP_Post captured before deletion).
		 *
		 * @var array<int, array>
		 */
		private $posts = array();

		/** @var array<string, true> reasons of a site-wide change */
		private $site_reasons = array();

		/** @var array<int, array> term_id => term info of edited or deleted terms */
		private $terms = array();

		/** @var array<int, array> envelopes waiting to be sent again (from WP-Cron) */
		private $outbox = array();

		/** @var float connect timeout applied to the delivery in flight */
		private $connect_timeout = 1.0;

		/**
		 * The one instance, created and hooked on first call.
		 *
		 * @return Purgehook_Plugin
		 */
		public static function instance() {
			if ( null === self::$instance ) {
				self::$instance = new self();
				self::$instance->register();
			}
			return self::$instance;
		}

		/**
		 * Hooks everything. Callbacks only collect; shutdown sends.
		 */
		private function register() {
			// Posts: capture the state before the change ...
			add_action( 'wp_trash_post', array( $this, 'on_wp_trash_post' ), 10, 1 );
			add_action( 'pre_post_update', array( $this, 'on_pre_post_update' ), 10, 1 );
			add_action( 'before_delete_post', array( $this, 'on_before_delete_post' ), 10, 1 );
			// ... and note the change.
			add_action( 'transition_post_status', array( $this, 'on_transition_post_status' ), 10, 3 );
			add_action( 'post_updated', array( $this, 'on_post_updated' ), 10, 3 );
			add_action( 'deleted_post', array( $this, 'on_deleted_post' ), 10, 1 );
			add_action( 'clean_post_cache', array( $this, 'on_clean_post_cache' ), 10, 2 );

			// Comments shown on a post.
			add_action( 'wp_insert_comment', array( $this, 'on_wp_insert_comment' ), 10, 2 );
			add_action( 'transition_comment_status', array( $this, 'on_transition_comment_status' ), 10, 3 );
			add_action( 'edit_comment', array( $this, 'on_edit_comment' ), 10, 1 );

			// Terms: their archives and every page listing them.
			add_action( 'edit_terms', array( $this, 'on_before_term_change' ), 10, 2 );
			add_action( 'pre_delete_term', array( $this, 'on_before_term_change' ), 10, 2 );
			add_action( 'edited_term', array( $this, 'on_edited_term' ), 10, 3 );
			add_action( 'delete_term', array( $this, 'on_delete_term' ), 10, 3 );

			// Site-wide changes.
			add_action( 'switch_theme', array( $this, 'on_switch_theme' ), 10, 0 );
			add_action( 'wp_update_nav_menu', array( $this, 'on_nav_menu_saved' ), 10, 0 );
			add_action( 'wp_delete_nav_menu', array( $this, 'on_nav_menu_deleted' ), 10, 0 );
			add_action( 'update_option_sidebars_widgets', array( $this, 'on_widgets_saved' ), 10, 0 );
			add_action( 'customize_save_after', array( $this, 'on_customize_save_after' ), 10, 0 );
			add_action( 'updated_option', array( $this, 'on_updated_option' ), 10, 1 );

			// Sending: late at shutdown (after output buffers are flushed), and retries from WP-Cron.
			add_action( 'shutdown', array( $this, 'flush' ), 1000, 0 );
			add_action( self::RETRY_HOOK, array( $this, 'on_retry' ), 10, 1 );

			if ( is_admin() ) {
				add_action( 'admin_menu', array( $this, 'admin_menu' ) );
				add_action( 'admin_init', array( $this, 'admin_init' ) );
			}
		}

		/*
		 * Configuration.
		 */

		/**
		 * A setting: the constant when defined and not empty, else the option.
		 *
		 * @param string $constant Constant name.
		 * @param string $key      Key in the settings option.
		 * @return mixed
		 */
		private static function setting( $constant, $key ) {
			if ( defined( $constant ) && '' !== constant( $constant ) && null !== constant( $constant ) ) {
				return constant( $constant );
			}
			$options = get_option( self::OPTION, array() );
			return is_array( $options ) && isset( $options[ $key ] ) ? $options[ $key ] : null;
		}

		/** @return string The purgehook hook URL, or ''. */
		public static function url() {
			return trim( (string) self::setting( 'PURGEHOOK_URL', 'url' ) );
		}

		/** @return string The whsec_ secret, or ''. */
		public static function secret() {
			return trim( (string) self::setting( 'PURGEHOOK_SECRET', 'secret' ) );
		}

		/** @return int Above this many related URLs in a request, send site.changed. */
		public static function max_urls() {
			$max = (int) self::setting( 'PURGEHOOK_MAX_URLS', 'max_urls' );
			return $max > 0 ? $max : self::DEFAULT_MAX_URLS;
		}

		/** @return float Time budget of a request's deliveries, in seconds. */
		public static function timeout() {
			$timeout = defined( 'PURGEHOOK_TIMEOUT' ) ? (float) PURGEHOOK_TIMEOUT : self::MAX_TIMEOUT;
			return max( 0.1, min( self::MAX_TIMEOUT, $timeout ) );
		}

		/**
		 * The HMAC key: the base64 after "whsec_" decoded, or null when the secret is unusable.
		 *
		 * @param string $secret The secret.
		 * @return string|null
		 */
		public static function signing_key( $secret ) {
			$encoded = 0 === strpos( $secret, 'whsec_' ) ? substr( $secret, 6 ) : $secret;
			$key     = base64_decode( $encoded, true ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_decode
			return ( false === $key || '' === $key ) ? null : $key;
		}

		/**
		 * Whether this request must send nothing: imports, switched blogs, or the filter.
		 *
		 * @return bool
		 */
		private function suspended() {
			if ( defined( 'WP_IMPORTING' ) && WP_IMPORTING ) {
				return true;
			}
			if ( function_exists( 'ms_is_switched' ) && ms_is_switched() ) {
				return true;
			}
			return (bool) apply_filters( 'purgehook_suspend', false );
		}

		/**
		 * Logs a line when PURGEHOOK_DEBUG is on.
		 *
		 * @param string $message The line.
		 */
		private static function debug( $message ) {
			if ( defined( 'PURGEHOOK_DEBUG' ) && PURGEHOOK_DEBUG ) {
				error_log( 'purgehook: ' . $message ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log
			}
		}

		/*
		 * Which posts count.
		 */

		/**
		 * The post types watched: viewable ones, attachments excepted.
		 *
		 * @return string[]
		 */
		private function post_types() {
			$types = array();
			foreach ( get_post_types( array(), 'objects' ) as $name => $object ) {
				if ( 'attachment' !== $name && is_post_type_viewable( $object ) ) {
					$types[] = $name;
				}
			}
			return (array) apply_filters( 'purgehook_post_types', $types );
		}

		/**
		 * Whether changes to this post are watched at all.
		 *
		 * @param mixed $post A post.
		 * @return bool
		 */
		private function tracks( $post ) {
			if ( ! $post instanceof WP_Post || $this->suspended() ) {
				return false;
			}
			if ( defined( 'DOING_AUTOSAVE' ) && DOING_AUTOSAVE ) {
				return false;
			}
			if ( 'auto-draft' === $post->post_status || wp_is_post_revision( $post ) || wp_is_post_autosave( $post ) ) {
				return false;
			}
			if ( ! in_array( $post->post_type, $this->post_types(), true ) ) {
				return false;
			}
			return (bool) apply_filters( 'purgehook_track_post', true, $post );
		}

		/**
		 * The record of a post, created on first sight.
		 *
		 * @param WP_Post $post The post.
		 * @param string  $hook The hook that saw it (for the purgehook_observed action).
		 * @return array
		 */
		private function &record( WP_Post $post, $hook ) {
			$id = (int) $post->ID;
			if ( ! isset( $this->posts[ $id ] ) ) {
				$this->posts[ $id ] = array(
					'start'   => null,
					'strong'  => false,
					'before'  => null,
					'deleted' => false,
					'post'    => null,
					'hooks'   => array(),
				);
			}
			$this->posts[ $id ]['hooks'][] = $hook;
			self::debug( sprintf( '%s post %d (%s)', $hook, $id, $post->post_status ) );
			do_action( 'purgehook_observed', $hook, $id );
			return $this->posts[ $id ];
		}

		/**
		 * Notes a post's status at the start of the request. A strong observation
		 * (a hook that knows the old status) replaces a weak one (clean_post_cache
		 * or a comment, which only see the current status); the first strong one wins.
		 *
		 * @param WP_Post $post   The post.
		 * @param string  $status Its status at the start of the request.
		 * @param bool    $strong Whether the hook knows the status before the change.
		 * @param string  $hook   The hook.
		 */
		private function observe( WP_Post $post, $status, $strong, $hook ) {
			$record = &$this->record( $post, $hook );
			self::mark_start( $record, $status, $strong );
		}

		/**
		 * The rule of observe(), on a record.
		 *
		 * @param array  $record The record, by reference.
		 * @param string $status Status at the start of the request.
		 * @param bool   $strong Whether the hook knows the status before the change.
		 */
		private static function mark_start( array &$record, $status, $strong ) {
			if ( ! $record['strong'] && ( $strong || null === $record['start'] ) ) {
				$record['start']  = $status;
				$record['strong'] = $strong;
			}
		}

		/**
		 * Keeps what is needed to purge a post's old pages, before the change.
		 * The first snapshot of the request wins.
		 *
		 * @param WP_Post $post The post as it is before the change.
		 * @param string  $hook The hook.
		 */
		private function snapshot( WP_Post $post, $hook ) {
			$record = &$this->record( $post, $hook );
			if ( null === $record['before'] ) {
				$public           = 'publish' === $post->post_status;
				$record['before'] = array(
					'status'    => $post->post_status,
					'permalink' => $public ? $this->public_permalink( $post ) : null,
					'terms'     => $public ? $this->terms_of( $post ) : array(),
					'author'    => (int) $post->post_author,
				);
			}
			self::mark_start( $record, $post->post_status, true );
		}

		/*
		 * Post hooks.
		 */

		/**
		 * Before trashing: the permalink still has no "__trashed" suffix here.
		 *
		 * @param int $post_id Post id.
		 */
		public function on_wp_trash_post( $post_id ) {
			$post = get_post( $post_id );
			if ( $this->tracks( $post ) ) {
				$this->snapshot( $post, 'wp_trash_post' );
			}
		}

		/**
		 * Before an existing post is updated.
		 *
		 * @param int $post_id Post id.
		 */
		public function on_pre_post_update( $post_id ) {
			$post = get_post( $post_id );
			if ( $this->tracks( $post ) ) {
				$this->snapshot( $post, 'pre_post_update' );
			}
		}

		/**
		 * Before deletion: the post, its terms and permalink are still there.
		 *
		 * @param int $post_id Post id.
		 */
		public function on_before_delete_post( $post_id ) {
			$post = get_post( $post_id );
			if ( $this->tracks( $post ) ) {
				$this->snapshot( $post, 'before_delete_post' );
				$this->posts[ (int) $post->ID ]['post'] = clone $post;
			}
		}

		/**
		 * The post is gone.
		 *
		 * @param int $post_id Post id.
		 */
		public function on_deleted_post( $post_id ) {
			$post_id = (int) $post_id;
			if ( isset( $this->posts[ $post_id ]['post'] ) ) {
				$this->posts[ $post_id ]['deleted'] = true;
				$this->posts[ $post_id ]['hooks'][] = 'deleted_post';
				do_action( 'purgehook_observed', 'deleted_post', $post_id );
			}
		}

		/**
		 * Any status change, including future -> publish by WP-Cron and
		 * publish -> publish on every update.
		 *
		 * @param string  $new_status New status.
		 * @param string  $old_status Old status ("new" for a new post).
		 * @param WP_Post $post       The post, in its new state.
		 */
		public function on_transition_post_status( $new_status, $old_status, $post ) {
			if ( array_key_exists( $post->post_type, self::SITE_POST_TYPES ) ) {
				if ( 'publish' === $new_status || 'publish' === $old_status ) {
					$this->site_changed( self::SITE_POST_TYPES[ $post->post_type ] );
				}
				return;
			}
			if ( 'publish' !== $new_status && 'publish' !== $old_status && ! isset( $this->posts[ (int) $post->ID ] ) ) {
				return;
			}
			if ( $this->tracks( $post ) ) {
				$this->observe( $post, $old_status, true, 'transition_post_status' );
			}
		}

		/**
		 * After an existing post is updated; a fallback snapshot from $post_before
		 * when pre_post_update was not seen.
		 *
		 * @param int     $post_id     Post id.
		 * @param WP_Post $post_after  The post after.
		 * @param WP_Post $post_before The post before.
		 */
		public function on_post_updated( $post_id, $post_after, $post_before ) {
			if ( 'publish' !== $post_after->post_status && 'publish' !== $post_before->post_status ) {
				return;
			}
			if ( $this->tracks( $post_after ) ) {
				if ( ! isset( $this->posts[ (int) $post_id ]['before'] ) && 'publish' === $post_before->post_status ) {
					$this->snapshot( $post_before, 'post_updated' );
				} else {
					$this->observe( $post_after, $post_before->post_status, true, 'post_updated' );
				}
			}
		}

		/**
		 * A post's cache was cleaned: its data changed (page builders, comment
		 * counts, author reassignment...). Pings done by WP-Cron change nothing shown.
		 *
		 * @param int     $post_id Post id.
		 * @param WP_Post $post    The post.
		 */
		public function on_clean_post_cache( $post_id, $post ) {
			if ( doing_action( 'do_pings' ) || ! $post instanceof WP_Post || 'publish' !== $post->post_status ) {
				return;
			}
			if ( $this->tracks( $post ) ) {
				$this->observe( $post, 'publish', false, 'clean_post_cache' );
			}
		}

		/*
		 * Comment hooks: a visible comment changes its post's page.
		 */

		/**
		 * Purges the post of a comment when the post is public.
		 *
		 * @param int|WP_Comment $comment The comment.
		 * @param string         $hook    The hook.
		 */
		private function comment_changed( $comment, $hook ) {
			$comment = get_comment( $comment );
			if ( ! $comment ) {
				return;
			}
			$post = get_post( (int) $comment->comment_post_ID );
			if ( $post && 'publish' === $post->post_status && $this->tracks( $post ) ) {
				$this->observe( $post, 'publish', false, $hook );
			}
		}

		/**
		 * A new comment, when approved.
		 *
		 * @param int        $comment_id Comment id.
		 * @param WP_Comment $comment    The comment.
		 */
		public function on_wp_insert_comment( $comment_id, $comment ) {
			if ( '1' === (string) $comment->comment_approved ) {
				$this->comment_changed( $comment, 'wp_insert_comment' );
			}
		}

		/**
		 * A comment approved or unapproved (spam, trash, hold).
		 *
		 * @param string     $new_status New status.
		 * @param string     $old_status Old status.
		 * @param WP_Comment $comment    The comment.
		 */
		public function on_transition_comment_status( $new_status, $old_status, $comment ) {
			if ( 'approved' === $new_status || 'approved' === $old_status ) {
				$this->comment_changed( $comment, 'transition_comment_status' );
			}
		}

		/**
		 * An approved comment edited.
		 *
		 * @param int $comment_id Comment id.
		 */
		public function on_edit_comment( $comment_id ) {
			$comment = get_comment( $comment_id );
			if ( $comment && '1' === (string) $comment->comment_approved ) {
				$this->comment_changed( $comment, 'edit_comment' );
			}
		}

		/*
		 * Term hooks. A term's name and link appear on every page listing it
		 * (posts, widgets, menus): a site-wide change.
		 */

		/**
		 * Before a term is edited or deleted: keep what identifies it (a deleted
		 * term is gone by delete_term). Sent as data.terms of the site.changed.
		 *
		 * @param int    $term_id  Term id.
		 * @param string $taxonomy Taxonomy.
		 */
		public function on_before_term_change( $term_id, $taxonomy ) {
			if ( $this->suspended() || ! is_taxonomy_viewable( $taxonomy ) || isset( $this->terms[ (int) $term_id ] ) ) {
				return;
			}
			$term = get_term( (int) $term_id, $taxonomy );
			if ( $term instanceof WP_Term ) {
				$this->terms[ (int) $term_id ] = array(
					'term_id'  => (int) $term->term_id,
					'taxonomy' => $taxonomy,
					'slug'     => $term->slug,
					'name'     => $term->name,
				);
			}
		}

		/**
		 * A public term was edited.
		 *
		 * @param int    $term_id  Term id.
		 * @param int    $tt_id    Term taxonomy id.
		 * @param string $taxonomy Taxonomy.
		 */
		public function on_edited_term( $term_id, $tt_id, $taxonomy ) {
			if ( ! $this->suspended() && is_taxonomy_viewable( $taxonomy ) ) {
				$term = get_term( (int) $term_id, $taxonomy );
				if ( $term instanceof WP_Term && isset( $this->terms[ (int) $term_id ] ) ) {
					$this->terms[ (int) $term_id ]['slug'] = $term->slug;
					$this->terms[ (int) $term_id ]['name'] = $term->name;
				}
				$this->site_changed( 'term edited' );
			}
		}

		/**
		 * A public term was deleted.
		 *
		 * @param int    $term_id  Term id.
		 * @param int    $tt_id    Term taxonomy id.
		 * @param string $taxonomy Taxonomy.
		 */
		public function on_delete_term( $term_id, $tt_id, $taxonomy ) {
			if ( ! $this->suspended() && is_taxonomy_viewable( $taxonomy ) ) {
				$this->site_changed( 'term deleted' );
			}
		}

		/*
		 * Site-wide hooks.
		 */

		/**
		 * Notes a site-wide change.
		 *
		 * @param string $reason Why, e.g. "theme switched".
		 */
		private function site_changed( $reason ) {
			if ( $this->suspended() ) {
				return;
			}
			self::debug( 'site changed: ' . $reason . ( current_action() ? ' (' . current_action() . ')' : '' ) );
			do_action( 'purgehook_observed', $reason, 0 );
			$this->site_reasons[ $reason ] = true;
		}

		/** The theme was switched. */
		public function on_switch_theme() {
			$this->site_changed( 'theme switched' );
		}

		/** A menu was saved (admin screen, customizer, wp_update_nav_menu_object). */
		public function on_nav_menu_saved() {
			$this->site_changed( 'menu saved' );
		}

		/** A menu was deleted. */
		public function on_nav_menu_deleted() {
			$this->site_changed( 'menu deleted' );
		}

		/**
		 * Widgets were moved, added or removed. Not while WordPress remaps the
		 * widgets of a newly switched theme (after_switch_theme, on the first
		 * request after the switch): that switch was already reported.
		 */
		public function on_widgets_saved() {
			if ( ! doing_action( 'after_switch_theme' ) ) {
				$this->site_changed( 'widgets saved' );
			}
		}

		/** The customizer published its changes. */
		public function on_customize_save_after() {
			$this->site_changed( 'customizer saved' );
		}

		/**
		 * Any option updated (with a new value): widget settings, theme mods
		 * (menu locations...) and the site options in SITE_OPTIONS.
		 *
		 * @param string $option Option name.
		 */
		public function on_updated_option( $option ) {
			if ( 0 === strpos( $option, 'widget_' ) ) {
				$this->on_widgets_saved();
			} elseif ( 0 === strpos( $option, 'theme_mods_' ) ) {
				$this->site_changed( 'theme settings saved' );
			} elseif ( array_key_exists( $option, self::SITE_OPTIONS ) ) {
				$this->site_changed( self::SITE_OPTIONS[ $option ] );
			}
		}

		/*
		 * URLs.
		 */

		/**
		 * The URL a post has (or had) while published: computed on a copy with
		 * status publish and without the "__trashed" suffix, so it is right for a
		 * trashed, unpublished or deleted post (whose get_permalink() is ?p=ID).
		 *
		 * @param WP_Post $post The post.
		 * @return string
		 */
		private function public_permalink( WP_Post $post ) {
			$copy = clone $post;
			if ( '__trashed' === substr( $copy->post_name, -9 ) ) {
				$copy->post_name = substr( $copy->post_name, 0, -9 );
			}
			$copy->post_status = 'publish';
			return (string) get_permalink( $copy );
		}

		/**
		 * Page $page of a listing URL, following the permalink structure.
		 *
		 * @param string $url  The listing's first page.
		 * @param int    $page Page number.
		 * @return string
		 */
		private function paged( $url, $page ) {
			global $wp_rewrite;
			if ( ! $wp_rewrite instanceof WP_Rewrite || ! $wp_rewrite->using_permalinks() ) {
				return add_query_arg( 'paged', $page, $url );
			}
			$parts = explode( '?', $url, 2 );
			$base  = trailingslashit( $parts[0] );
			if ( $wp_rewrite->using_index_permalinks() && trailingslashit( home_url() ) === $base ) {
				$base .= $wp_rewrite->index . '/';
			}
			$paged = $base . user_trailingslashit( $wp_rewrite->pagination_base . '/' . $page, 'paged' );
			return isset( $parts[1] ) ? $paged . '?' . $parts[1] : $paged;
		}

		/**
		 * The post's terms in viewable taxonomies: taxonomy => list of term info.
		 *
		 * @param WP_Post $post The post.
		 * @return array<string, array<int, array>>
		 */
		private function terms_of( WP_Post $post ) {
			$terms = array();
			foreach ( get_object_taxonomies( $post->post_type ) as $taxonomy ) {
				if ( ! is_taxonomy_viewable( $taxonomy ) ) {
					continue;
				}
				$found = get_the_terms( $post, $taxonomy );
				if ( ! is_array( $found ) ) {
					continue;
				}
				foreach ( $found as $term ) {
					$terms[ $taxonomy ][] = array(
						'term_id' => (int) $term->term_id,
						'slug'    => $term->slug,
						'name'    => $term->name,
					);
				}
			}
			return $terms;
		}

		/**
		 * A term's archive, its feed and pages 2 and 3.
		 *
		 * @param int    $term_id  Term id.
		 * @param string $taxonomy Taxonomy.
		 * @return string[]
		 */
		private function term_urls( $term_id, $taxonomy ) {
			$link = get_term_link( (int) $term_id, $taxonomy );
			if ( is_wp_error( $link ) ) {
				return array();
			}
			return array( $link, get_term_feed_link( (int) $term_id, $taxonomy ), $this->paged( $link, 2 ), $this->paged( $link, 3 ) );
		}

		/**
		 * Every URL whose page shows the post or links to it.
		 *
		 * @param WP_Post     $post          The post (as captured before deletion, for a deleted post).
		 * @param string      $permalink     Its permalink.
		 * @param string|null $old_permalink Its permalink before the change, when different.
		 * @param array       $terms         Its terms (taxonomy => term infos).
		 * @param array|null  $before        The snapshot before the change.
		 * @param bool        $deleted       Whether the post is deleted.
		 * @return string[]
		 */
		private function related_urls( WP_Post $post, $permalink, $old_permalink, array $terms, $before, $deleted ) {
			$urls = array( $permalink, $old_permalink );

			// The post's comments feed, under its public permalinks (not under the
			// ?p=ID that get_permalink() gives a trashed or unpublished post).
			if ( get_option( 'permalink_structure' ) ) {
				foreach ( array( $permalink, $old_permalink ) as $url ) {
					if ( $url && false === strpos( $url, '?' ) ) {
						$urls[] = user_trailingslashit( trailingslashit( $url ) . 'feed', 'single_feed' );
					}
				}
			} elseif ( ! $deleted ) {
				$urls[] = get_post_comments_feed_link( $post->ID );
			}

			// The REST route of the post.
			$route = function_exists( 'rest_get_route_for_post' ) ? rest_get_route_for_post( $post ) : '';
			if ( '' !== $route ) {
				$urls[] = rest_url( ltrim( $route, '/' ) );
			}

			// Home, the posts page, and pages 2-3 of the blog index.
			$home   = home_url( '/' );
			$urls[] = $home;
			$index  = $home;
			if ( 'page' === get_option( 'show_on_front' ) && get_option( 'page_for_posts' ) ) {
				$posts_page = get_permalink( (int) get_option( 'page_for_posts' ) );
				if ( $posts_page ) {
					$urls[] = $posts_page;
					$index  = $posts_page;
				}
			}
			$urls[] = $this->paged( $index, 2 );
			$urls[] = $this->paged( $index, 3 );

			// Term archives, old and new terms, with the ancestors of hierarchical ones.
			$term_ids = array();
			$all      = $terms;
			if ( is_array( $before ) && ! empty( $before['terms'] ) ) {
				$all = array_merge_recursive( $all, $before['terms'] );
			}
			foreach ( $all as $taxonomy => $list ) {
				foreach ( $list as $term ) {
					$term_ids[ $taxonomy ][ (int) $term['term_id'] ] = true;
					if ( is_taxonomy_hierarchical( $taxonomy ) ) {
						foreach ( get_ancestors( (int) $term['term_id'], $taxonomy, 'taxonomy' ) as $ancestor ) {
							$term_ids[ $taxonomy ][ (int) $ancestor ] = true;
						}
					}
				}
			}
			foreach ( $term_ids as $taxonomy => $ids ) {
				foreach ( array_keys( $ids ) as $term_id ) {
					$urls = array_merge( $urls, $this->term_urls( $term_id, $taxonomy ) );
				}
			}

			// Author archives and feeds, old and new author.
			$authors = array( (int) $post->post_author );
			if ( is_array( $before ) && ! empty( $before['author'] ) ) {
				$authors[] = (int) $before['author'];
			}
			foreach ( array_unique( $authors ) as $author ) {
				if ( $author > 0 ) {
					$urls[] = get_author_posts_url( $author );
					$urls[] = get_author_feed_link( $author );
				}
			}

			// The post type archive and its feed, when it has one.
			$type = get_post_type_object( $post->post_type );
			if ( $type && $type->has_archive ) {
				$urls[] = get_post_type_archive_link( $post->post_type );
				$urls[] = get_post_type_archive_feed_link( $post->post_type );
			}

			// The site feeds.
			$urls[] = get_feed_link( 'rss2' );
			$urls[] = get_feed_link( 'atom' );
			$urls[] = get_feed_link( 'comments_rss2' );

			return $urls;
		}

		/**
		 * Unique non-empty URLs, in order. With plain permalinks, WordPress's
		 * feed links of terms and authors come HTML-escaped ("?feed=rss2&amp;cat=3"):
		 * a cache knows the URL with a real "&".
		 *
		 * @param array $urls URLs, maybe with blanks, duplicates and non-strings.
		 * @return string[]
		 */
		private static function clean_urls( array $urls ) {
			$clean = array();
			foreach ( $urls as $url ) {
				if ( is_string( $url ) && '' !== $url ) {
					$clean[ str_replace( array( '&amp;', '&#038;' ), '&', $url ) ] = true;
				}
			}
			return array_map( 'strval', array_keys( $clean ) );
		}

		/*
		 * Events.
		 */

		/**
		 * The event of one post record, or null when nothing public changed.
		 *
		 * @param int   $post_id Post id.
		 * @param array $record  Its record.
		 * @return array|null array( 'type' => ..., 'data' => ..., 'post' => WP_Post ).
		 */
		private function post_event( $post_id, array $record ) {
			$deleted = $record['deleted'];
			$post    = $deleted ? $record['post'] : get_post( $post_id );
			if ( ! $post instanceof WP_Post ) {
				return null;
			}
			$was_public = 'publish' === $record['start'];
			$is_public  = ! $deleted && 'publish' === $post->post_status;
			if ( ! $was_public && ! $is_public ) {
				return null; // Never public in this request: nothing cached to purge.
			}
			if ( $deleted ) {
				$type = 'post.deleted';
			} elseif ( $is_public ) {
				$type = $was_public ? 'post.updated' : 'post.published';
			} elseif ( 'trash' === $post->post_status ) {
				$type = 'post.trashed';
			} else {
				$type = 'post.unpublished';
			}

			$before = $record['before'];
			if ( $deleted ) {
				$permalink = ! empty( $before['permalink'] ) ? $before['permalink'] : $this->public_permalink( $post );
			} else {
				$permalink = (string) get_permalink( $post );
			}
			$old_permalink = ( ! empty( $before['permalink'] ) && $before['permalink'] !== $permalink ) ? $before['permalink'] : null;
			$terms         = $deleted ? ( isset( $before['terms'] ) ? $before['terms'] : array() ) : $this->terms_of( $post );

			$urls = $this->related_urls( $post, $permalink, $old_permalink, $terms, $before, $deleted );
			$urls = self::clean_urls( (array) apply_filters( 'purgehook_related_urls', self::clean_urls( $urls ), $post, $type ) );

			$post_data = array(
				'ID'          => (int) $post->ID,
				'post_type'   => $post->post_type,
				'post_status' => $post->post_status,
				'post_name'   => $post->post_name,
				'post_title'  => $post->post_title,
				'permalink'   => $permalink,
			);
			if ( null !== $old_permalink ) {
				$post_data['old_permalink'] = $old_permalink;
			}
			$post_data['author'] = (int) $post->post_author;
			$post_data['terms']  = (object) $terms;

			return array(
				'type' => $type,
				'post' => $post,
				'data' => array(
					'post'         => $post_data,
					'related_urls' => $urls,
					'site_url'     => home_url( '/' ),
				),
			);
		}

		/**
		 * A site.changed event.
		 *
		 * @param string[] $reasons  Why.
		 * @param int[]    $post_ids Posts that also changed in this request.
		 * @param array    $extra    More data.
		 * @return array
		 */
		private function site_event( array $reasons, array $post_ids, array $extra = array() ) {
			$data = array(
				'site_url' => home_url( '/' ),
				'reason'   => implode( '; ', $reasons ),
				'reasons'  => array_values( $reasons ),
			);
			if ( $post_ids ) {
				$data['post_ids'] = array_values( array_map( 'intval', $post_ids ) );
			}
			if ( $this->terms ) {
				$data['terms'] = array_values( $this->terms );
			}
			return array(
				'type' => 'site.changed',
				'post' => null,
				'data' => array_merge( $data, $extra ),
			);
		}

		/**
		 * What this request must send, following the policy in the file header.
		 *
		 * @return array[] Events (type, post, data).
		 */
		private function events() {
			$posts = array();
			foreach ( $this->posts as $post_id => $record ) {
				$event = $this->post_event( $post_id, $record );
				if ( null !== $event ) {
					$posts[] = $event;
				}
			}
			$post_ids = array_map(
				function ( $event ) {
					return $event['data']['post']['ID'];
				},
				$posts
			);

			if ( $this->site_reasons ) {
				return array( $this->site_event( array_keys( $this->site_reasons ), $post_ids ) );
			}

			$all_urls = array();
			foreach ( $posts as $event ) {
				foreach ( $event['data']['related_urls'] as $url ) {
					$all_urls[ $url ] = true;
				}
			}
			if ( count( $all_urls ) > self::max_urls() ) {
				return array(
					$this->site_event(
						array( 'too many related URLs' ),
						$post_ids,
						array(
							'url_count' => count( $all_urls ),
							'max_urls'  => self::max_urls(),
						)
					),
				);
			}
			return $posts;
		}

		/*
		 * Sending.
		 */

		/**
		 * At shutdown: turn what was collected into deliveries and send them
		 * within one time budget.
		 */
		public function flush() {
			$envelopes    = $this->outbox;
			$this->outbox = array();
			$events       = $this->suspended() ? array() : $this->events();

			$this->posts        = array();
			$this->site_reasons = array();
			$this->terms        = array();

			foreach ( $events as $event ) {
				$data    = (array) apply_filters( 'purgehook_event_data', $event['data'], $event['type'], $event['post'] );
				$payload = array(
					'type'      => $event['type'],
					'timestamp' => gmdate( 'Y-m-d\TH:i:s\Z' ),
					'data'      => $data,
				);
				$envelopes[] = array(
					'id'      => 'msg_' . str_replace( '-', '', wp_generate_uuid4() ),
					'type'    => $event['type'],
					'body'    => wp_json_encode( $payload, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE ),
					'attempt' => 0,
				);
			}
			if ( ! $envelopes ) {
				return;
			}

			$url = self::url();
			$key = self::signing_key( self::secret() );
			if ( '' === $url || null === $key ) {
				self::debug( sprintf( 'not configured (PURGEHOOK_URL and a valid PURGEHOOK_SECRET); %d event(s) dropped', count( $envelopes ) ) );
				return;
			}

			// Let the browser go before talking to purgehook (PHP-FPM).
			if ( 'cli' !== PHP_SAPI && function_exists( 'fastcgi_finish_request' ) && apply_filters( 'purgehook_finish_request', true ) ) {
				fastcgi_finish_request();
			}
			ignore_user_abort( true );

			$deadline = microtime( true ) + self::timeout();
			foreach ( $envelopes as $envelope ) {
				$remaining = $deadline - microtime( true );
				if ( $remaining < 0.05 ) {
					self::log_failure( $envelope, 'no time left in this request' );
					$this->retry_later( $envelope );
					continue;
				}
				$this->send( $url, $key, $envelope, $remaining );
			}
		}

		/**
		 * Sends one delivery, blocking, within $timeout seconds; schedules a
		 * retry when it failed in a way worth retrying.
		 *
		 * @param string $url      The hook URL.
		 * @param string $key      The HMAC key.
		 * @param array  $envelope id, type, body, attempt.
		 * @param float  $timeout  Seconds left.
		 */
		private function send( $url, $key, array $envelope, $timeout ) {
			$timestamp = (string) time();
			$signature = base64_encode( hash_hmac( 'sha256', $envelope['id'] . '.' . $timestamp . '.' . $envelope['body'], $key, true ) ); // phpcs:ignore WordPress.PHP.DiscouragedPHPFunctions.obfuscation_base64_encode
			$args      = array(
				'method'      => 'POST',
				'timeout'     => $timeout,
				'redirection' => 0,
				'blocking'    => true,
				'user-agent'  => 'purgehook-wordpress/' . self::VERSION . '; ' . home_url( '/' ),
				'headers'     => array(
					'Content-Type'      => 'application/json',
					'webhook-id'        => $envelope['id'],
					'webhook-timestamp' => $timestamp,
					'webhook-signature' => 'v1,' . $signature,
				),
				'body'        => $envelope['body'],
				'data_format' => 'body',
			);
			$args = (array) apply_filters( 'purgehook_request_args', $args, $envelope );

			// WordPress passes only `timeout` to Requests, whose connect timeout is 10 s.
			$this->connect_timeout = min( 1.0, $timeout );
			add_action( 'requests-requests.before_request', array( $this, 'limit_connect_timeout' ), 10, 5 );
			$started  = microtime( true );
			$response = wp_remote_post( $url, $args );
			$ms       = (int) round( ( microtime( true ) - $started ) * 1000 );
			remove_action( 'requests-requests.before_request', array( $this, 'limit_connect_timeout' ), 10 );

			$code  = is_wp_error( $response ) ? 0 : (int) wp_remote_retrieve_response_code( $response );
			$error = is_wp_error( $response ) ? $response->get_error_message() : '';
			if ( $code >= 200 && $code < 300 ) {
				self::debug( sprintf( 'sent %s %s: %d in %d ms', $envelope['type'], $envelope['id'], $code, $ms ) );
			} else {
				if ( '' === $error ) {
					$error = sprintf( 'HTTP %d: %s', $code, substr( (string) wp_remote_retrieve_body( $response ), 0, 200 ) );
				}
				self::log_failure( $envelope, $error . sprintf( ' (after %d ms)', $ms ) );
				if ( 0 === $code || 408 === $code || 429 === $code || $code >= 500 ) {
					$this->retry_later( $envelope );
				}
			}

			$result = array(
				'id'      => $envelope['id'],
				'type'    => $envelope['type'],
				'code'    => $code,
				'error'   => $error,
				'ms'      => $ms,
				'attempt' => (int) $envelope['attempt'],
				'time'    => time(),
			);
			update_option( self::LAST_OPTION, $result, false );
			do_action( 'purgehook_delivered', json_decode( $envelope['body'], true ), $result );
		}

		/**
		 * Requests hook: a connect timeout within the budget (used for our requests only).
		 *
		 * @param string $url     URL.
		 * @param array  $headers Headers.
		 * @param mixed  $data    Body.
		 * @param string $type    Method.
		 * @param array  $options Requests options, by reference.
		 */
		public function limit_connect_timeout( &$url, &$headers, &$data, &$type, &$options ) {
			$options['connect_timeout'] = $this->connect_timeout;
		}

		/**
		 * Logs a failed delivery (always: a lost purge is an operational problem).
		 *
		 * @param array  $envelope The delivery.
		 * @param string $why      What went wrong.
		 */
		private static function log_failure( array $envelope, $why ) {
			error_log( sprintf( 'purgehook: delivery %s (%s, attempt %d) failed: %s', $envelope['id'], $envelope['type'], (int) $envelope['attempt'] + 1, $why ) ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log
		}

		/**
		 * Schedules a delivery again with WP-Cron, with the same webhook-id.
		 *
		 * @param array $envelope The delivery.
		 */
		private function retry_later( array $envelope ) {
			$attempt = (int) $envelope['attempt'] + 1;
			if ( ! array_key_exists( $attempt, self::RETRY_DELAYS ) ) {
				error_log( sprintf( 'purgehook: delivery %s (%s) dropped after %d attempts', $envelope['id'], $envelope['type'], $attempt ) ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log
				return;
			}
			$envelope['attempt'] = $attempt;
			wp_schedule_single_event( time() + self::RETRY_DELAYS[ $attempt ], self::RETRY_HOOK, array( $envelope ) );
		}

		/**
		 * WP-Cron: a delivery to try again, sent at this request's shutdown.
		 *
		 * @param array $envelope The delivery.
		 */
		public function on_retry( $envelope ) {
			if ( is_array( $envelope ) && isset( $envelope['id'], $envelope['type'], $envelope['body'], $envelope['attempt'] ) ) {
				$this->outbox[] = $envelope;
			}
		}

		/*
		 * Settings > purgehook.
		 */

		/** Adds the page. */
		public function admin_menu() {
			add_options_page( 'purgehook', 'purgehook', 'manage_options', 'purgehook', array( $this, 'render_settings' ) );
		}

		/** Registers the option. */
		public function admin_init() {
			register_setting(
				'purgehook',
				self::OPTION,
				array(
					'type'              => 'array',
					'sanitize_callback' => array( $this, 'sanitize_settings' ),
					'default'           => array(),
				)
			);
		}

		/**
		 * Cleans submitted settings. An empty secret field keeps the stored secret.
		 *
		 * @param mixed $input Submitted values.
		 * @return array
		 */
		public function sanitize_settings( $input ) {
			$old   = get_option( self::OPTION, array() );
			$old   = is_array( $old ) ? $old : array();
			$input = is_array( $input ) ? $input : array();
			$clean = array(
				'url'      => isset( $input['url'] ) ? esc_url_raw( trim( $input['url'] ), array( 'http', 'https' ) ) : '',
				'secret'   => isset( $old['secret'] ) ? $old['secret'] : '',
				'max_urls' => isset( $input['max_urls'] ) ? absint( $input['max_urls'] ) : 0,
			);
			if ( isset( $input['secret'] ) && '' !== trim( $input['secret'] ) ) {
				$secret = trim( $input['secret'] );
				if ( null === self::signing_key( $secret ) ) {
					add_settings_error( self::OPTION, 'purgehook_secret', __( 'The secret must be whsec_ followed by base64; it was not changed.', 'purgehook' ) );
				} else {
					$clean['secret'] = $secret;
				}
			}
			return $clean;
		}

		/** Renders the page. */
		public function render_settings() {
			if ( ! current_user_can( 'manage_options' ) ) {
				return;
			}
			$options = get_option( self::OPTION, array() );
			$options = is_array( $options ) ? $options : array();
			$fields  = array(
				'url'      => array( 'PURGEHOOK_URL', __( 'Hook URL', 'purgehook' ), 'url' ),
				'secret'   => array( 'PURGEHOOK_SECRET', __( 'Secret (whsec_…)', 'purgehook' ), 'password' ),
				'max_urls' => array( 'PURGEHOOK_MAX_URLS', __( 'Most related URLs before purging everything', 'purgehook' ), 'number' ),
			);
			$last    = get_option( self::LAST_OPTION );
			?>
			<div class="wrap">
				<h1>purgehook</h1>
				<p><?php esc_html_e( 'Constants in wp-config.php win over these settings.', 'purgehook' ); ?></p>
				<form method="post" action="options.php">
					<?php settings_fields( 'purgehook' ); ?>
					<table class="form-table" role="presentation">
						<?php foreach ( $fields as $key => $field ) : ?>
							<tr>
								<th scope="row"><label for="purgehook-<?php echo esc_attr( $key ); ?>"><?php echo esc_html( $field[1] ); ?></label></th>
								<td>
									<?php if ( defined( $field[0] ) ) : ?>
										<code><?php echo esc_html( $field[0] ); ?></code> <?php esc_html_e( 'is set in wp-config.php.', 'purgehook' ); ?>
									<?php else : ?>
										<input class="regular-text" id="purgehook-<?php echo esc_attr( $key ); ?>" type="<?php echo esc_attr( $field[2] ); ?>"
											name="<?php echo esc_attr( self::OPTION . '[' . $key . ']' ); ?>"
											value="<?php echo 'secret' === $key ? '' : esc_attr( isset( $options[ $key ] ) ? (string) $options[ $key ] : '' ); ?>"
											<?php echo 'secret' === $key && ! empty( $options['secret'] ) ? 'placeholder="' . esc_attr__( '(saved; leave empty to keep)', 'purgehook' ) . '"' : ''; ?> />
									<?php endif; ?>
								</td>
							</tr>
						<?php endforeach; ?>
					</table>
					<?php submit_button(); ?>
				</form>
				<?php if ( is_array( $last ) ) : ?>
					<h2><?php esc_html_e( 'Last delivery', 'purgehook' ); ?></h2>
					<p>
						<?php
						echo esc_html(
							sprintf(
								'%s — %s %s: %s (%d ms)',
								wp_date( 'Y-m-d H:i:s', (int) $last['time'] ),
								$last['type'],
								$last['id'],
								$last['code'] ? 'HTTP ' . $last['code'] : $last['error'],
								$last['ms']
							)
						);
						?>
					</p>
				<?php endif; ?>
			</div>
			<?php
		}
	}

	Purgehook_Plugin::instance();

	if ( function_exists( 'register_deactivation_hook' ) ) {
		register_deactivation_hook(
			__FILE__,
			function () {
				wp_unschedule_hook( Purgehook_Plugin::RETRY_HOOK );
			}
		);
	}

endif;
