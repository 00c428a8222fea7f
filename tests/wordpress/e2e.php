<?php
/**
 * End-to-end check of the WordPress plugin against a real WordPress and a
 * real purgehook:
 *
 *   WP_DIR=$(tests/wordpress/setup.sh)
 *   php tests/wordpress/e2e.php <purgehook-binary> "$WP_DIR" [full|quick]
 *
 * Starts `purgehook serve` (port 0, embedded queue in a temp dir, JSON logs,
 * a `standard` source "wp" with a literal test secret, a `log` target; post.*
 * -> urls = related_urls, site.changed -> everything), then runs each driver
 * action as its own php process (tests/wordpress/drive.php) and checks, per
 * action, that purgehook logged exactly the expected number of "event
 * accepted" lines, that each was the delivery the plugin reports with a 202,
 * of the expected type, with the expected URLs. Then the failure paths: a
 * receiver that accepts connections but never answers (the save must stay
 * under 2.5 s), a closed port, a wrong secret. "quick" runs publish and trash
 * only (for the plain-permalink and regular-plugin variants).
 *
 * Prints one line per check; exits 1 if any failed.
 *
 * @package purgehook-test
 */

if ( 'cli' !== PHP_SAPI || $argc < 3 ) {
	fwrite( STDERR, "usage: php e2e.php <purgehook-binary> <wp-dir> [full|quick]\n" );
	exit( 2 );
}
$binary = $argv[1];
$wp_dir = rtrim( $argv[2], '/' );
$scope  = isset( $argv[3] ) ? $argv[3] : 'full';
$driver = __DIR__ . '/drive.php';
$secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
$failed = 0;

/**
 * Prints a check's outcome.
 *
 * @param bool   $ok   Passed.
 * @param string $what What was checked.
 */
function check( $ok, $what ) {
	global $failed;
	echo( $ok ? 'ok    ' : 'FAIL  ' ), $what, "\n";
	if ( ! $ok ) {
		++$failed;
	}
	return $ok;
}

// 1. purgehook.
$tmp = sys_get_temp_dir() . '/purgehook-e2e-' . getmypid();
mkdir( $tmp );
$log    = "$tmp/purgehook.log";
$config = <<<TOML
[server]
listen = "127.0.0.1:0"
[queue]
backend = "embedded"
path = "$tmp/queue"
[log]
format = "json"
level = "info"
[sources.wp]
kind = "standard"
secrets = ["$secret"]
[targets.log]
provider = "log"
window = "100ms"
[[rules]]
name = "post events: related URLs"
source = "wp"
event = "post.*"
[[rules.actions]]
target = "log"
urls = ["{{ payload.data.related_urls }}"]
[[rules]]
name = "site changed: everything"
source = "wp"
event = "site.changed"
[[rules.actions]]
target = "log"
everything = true

TOML;
file_put_contents( "$tmp/purgehook.toml", $config );
$server = proc_open(
	array( $binary, 'serve', '--config', "$tmp/purgehook.toml" ),
	array(
		0 => array( 'file', '/dev/null', 'r' ),
		1 => array( 'file', $log, 'a' ),
		2 => array( 'file', $log, 'a' ),
	),
	$pipes
);
register_shutdown_function(
	function () use ( $server ) {
		proc_terminate( $server );
		proc_close( $server );
	}
);

/**
 * The JSON lines of the purgehook log from byte $offset.
 *
 * @param string $log    Log file.
 * @param int    $offset Start.
 * @return array[]
 */
function log_lines( $log, $offset = 0 ) {
	clearstatcache();
	$text  = (string) file_get_contents( $log, false, null, $offset );
	$lines = array();
	foreach ( explode( "\n", $text ) as $line ) {
		$decoded = json_decode( $line, true );
		if ( is_array( $decoded ) ) {
			$lines[] = $decoded;
		}
	}
	return $lines;
}

$port = 0;
for ( $i = 0; $i < 100 && ! $port; $i++ ) {
	foreach ( log_lines( $log ) as $line ) {
		if ( isset( $line['fields']['port'] ) && 'purgehook is serving' === $line['fields']['message'] ) {
			$port = (int) $line['fields']['port'];
		}
	}
	usleep( 100000 );
}
if ( ! $port ) {
	fwrite( STDERR, "purgehook did not start; its log:\n" . file_get_contents( $log ) );
	exit( 1 );
}
$hook_url = "http://127.0.0.1:$port/hooks/wp";
echo "purgehook on port $port, WordPress in $wp_dir, log $log\n";

/**
 * Runs one driver action (one php process) and returns its report, with the
 * wall time of the process in wall_ms.
 *
 * @param string $action Action and arguments.
 * @param array  $env    PURGEHOOK_* environment.
 * @return array
 */
function drive( $action, array $env ) {
	global $driver, $wp_dir;
	$command = 'php ' . escapeshellarg( $driver ) . ' ' . escapeshellarg( $wp_dir ) . ' ' . $action;
	$started = microtime( true );
	$process = proc_open(
		$command,
		array(
			1 => array( 'pipe', 'w' ),
			2 => array( 'pipe', 'w' ),
		),
		$pipes,
		null,
		array_merge( getenv(), $env )
	);
	$stdout = stream_get_contents( $pipes[1] );
	$stderr = stream_get_contents( $pipes[2] );
	$status = proc_close( $process );
	$report = json_decode( trim( $stdout ), true );
	if ( 0 !== $status || ! is_array( $report ) ) {
		fwrite( STDERR, "drive.php $action failed ($status):\n$stdout\n$stderr\n" );
		exit( 1 );
	}
	$report['wall_ms'] = (int) round( ( microtime( true ) - $started ) * 1000 );
	$report['stderr']  = $stderr;
	return $report;
}

/**
 * Runs an action against purgehook and checks what purgehook accepted.
 *
 * @param string $action Action and arguments.
 * @return array The driver's report.
 */
function step( $action ) {
	global $log, $hook_url, $secret;
	clearstatcache();
	$offset = filesize( $log );
	$report = drive(
		$action,
		array(
			'PURGEHOOK_URL'    => $hook_url,
			'PURGEHOOK_SECRET' => $secret,
			'PURGEHOOK_DEBUG'  => '1',
		)
	);
	$expect = $report['expect'];
	// purgehook logs "event accepted" before its 202; give the writer a moment.
	$accepted = array();
	for ( $i = 0; $i < 10; $i++ ) {
		$accepted = array_values(
			array_filter(
				log_lines( $log, $offset ),
				function ( $line ) {
					return 'event accepted' === $line['fields']['message'];
				}
			)
		);
		if ( count( $accepted ) >= $expect['deliveries'] ) {
			break;
		}
		usleep( 50000 );
	}
	usleep( 50000 );
	$accepted = array_values(
		array_filter(
			log_lines( $log, $offset ),
			function ( $line ) {
				return 'event accepted' === $line['fields']['message'];
			}
		)
	);
	$label = sprintf( '%-22s', $action );
	$types = implode( ', ', array_map( function ( $d ) { return $d['type'] . ' ' . $d['code']; }, $report['deliveries'] ) );
	check(
		count( $accepted ) === $expect['deliveries'] && count( $report['deliveries'] ) === $expect['deliveries'],
		sprintf( '%s %d verified deliveries (expected %d) [%s] %d ms (process %d ms); hooks: %s', $label, count( $accepted ), $expect['deliveries'], $types, $report['total_ms'], $report['wall_ms'], implode( ' ', $report['observed'] ) )
	);
	$ids = array_map( function ( $line ) { return $line['fields']['delivery_id']; }, $accepted );
	foreach ( $report['deliveries'] as $delivery ) {
		$data = $delivery['payload']['data'];
		check( 202 === $delivery['code'] && in_array( $delivery['id'], $ids, true ), "$label delivery {$delivery['id']} answered 202 and accepted by purgehook" );
		if ( isset( $expect['type'] ) ) {
			check( $expect['type'] === $delivery['type'], "$label type {$delivery['type']} (expected {$expect['type']})" );
		}
		if ( isset( $expect['urls'] ) ) {
			$missing = array_diff( $expect['urls'], $data['related_urls'] );
			check( ! $missing, "$label related_urls (" . count( $data['related_urls'] ) . ') contain the ' . count( $expect['urls'] ) . ' expected' . ( $missing ? ': missing ' . implode( ' ', $missing ) : '' ) );
			check( isset( $data['post']['ID'] ) && (int) $data['post']['ID'] === (int) $report['post_id'], "$label data.post.ID = {$report['post_id']}" );
			check( $data['post']['permalink'] === $report['permalink'], "$label data.post.permalink = {$report['permalink']}" );
		}
		if ( isset( $data['related_urls'] ) ) {
			$broken = preg_grep( '#\?.*/feed/#', $data['related_urls'] );
			check( ! $broken, "$label no feed URL built on a ?p=ID permalink" . ( $broken ? ': ' . implode( ' ', $broken ) : '' ) );
		}
		if ( isset( $expect['absent_urls'] ) ) {
			$present = array_intersect( $expect['absent_urls'], $data['related_urls'] );
			check( ! $present, "$label no __trashed URL" . ( $present ? ': ' . implode( ' ', $present ) : '' ) );
		}
		if ( isset( $expect['old_permalink'] ) ) {
			check( isset( $data['post']['old_permalink'] ) && $data['post']['old_permalink'] === $expect['old_permalink'], "$label data.post.old_permalink = {$expect['old_permalink']}" );
		}
		if ( isset( $expect['reason'] ) ) {
			check( isset( $data['reason'] ) && false !== strpos( $data['reason'], $expect['reason'] ), "$label reason \"" . ( isset( $data['reason'] ) ? $data['reason'] : '' ) . "\" has \"{$expect['reason']}\"" );
		}
	}
	return $report;
}

// 2. The editorial actions.
$published = step( 'publish' );
$id        = $published['post_id'];
step( "trash $id" );
if ( 'full' === $scope ) {
	step( 'noop' );
	step( 'draft' );
	$a = step( 'publish' )['post_id'];
	step( "update $a" );
	step( "builder-save $a" );
	step( "comment $a" );
	step( "autosave $a" );
	step( "rename $a" );
	step( "unpublish $a" );
	$c = step( 'publish' )['post_id'];
	step( "delete $c" );
	$d = step( 'schedule' )['post_id'];
	step( "publish-future $d" );
	step( 'import' );
	step( 'switch-theme' );
	step( 'noop' ); // The first request after a switch remaps widgets: nothing more is sent.
	step( 'save-menu' );
	step( 'save-widgets' );
	step( 'edit-term' );
	step( 'save-block' );
	step( 'bulk 2' );
	step( 'bulk 10' );

	// 3. Failure paths: nothing to verify at purgehook, only time and outcome.
	$silent = stream_socket_server( 'tcp://127.0.0.1:0', $errno, $errstr ); // The kernel accepts; nobody answers.
	$name   = stream_socket_get_name( $silent, false );
	$report = drive(
		"update $d",
		array(
			'PURGEHOOK_URL'    => "http://$name/hooks/wp",
			'PURGEHOOK_SECRET' => $secret,
		)
	);
	$result = $report['deliveries'][0];
	check(
		0 === $result['code'] && $report['total_ms'] < 2500 && $report['wall_ms'] < 3000,
		sprintf( 'receiver that never answers: gave up after %d ms (%s); save + send %d ms, php process %d ms', $result['ms'], $result['error'], $report['total_ms'], $report['wall_ms'] )
	);
	fclose( $silent );
	$retried_ids = array( $result['id'] );

	$closed = stream_socket_server( 'tcp://127.0.0.1:0' );
	$name   = stream_socket_get_name( $closed, false );
	fclose( $closed ); // Nothing listens there now.
	$report = drive(
		"update $d",
		array(
			'PURGEHOOK_URL'    => "http://$name/hooks/wp",
			'PURGEHOOK_SECRET' => $secret,
		)
	);
	$result = $report['deliveries'][0];
	check( 0 === $result['code'] && $report['total_ms'] < 1000, sprintf( 'closed port: failed in %d ms (%s)', $result['ms'], $result['error'] ) );
	$retried_ids[] = $result['id'];

	$report = drive(
		"update $d",
		array(
			'PURGEHOOK_URL'    => $hook_url,
			'PURGEHOOK_SECRET' => 'whsec_' . base64_encode( 'not the secret purgehook has' ),
		)
	);
	$result     = $report['deliveries'][0];
	$failed_ids = array( $result['id'] ); // Not retried: a 4xx is permanent.
	check( 401 === $result['code'], sprintf( 'wrong secret: purgehook answered %d, logged by the plugin: %s', $result['code'], trim( $report['stderr'] ) ) );

	// 4. WP-Cron retries the two deliveries that failed on the network, with their webhook-id.
	$report = step( 'run-retries' );
	$sent   = array_map( function ( $d ) { return $d['id'] . '#' . $d['attempt']; }, $report['deliveries'] );
	sort( $sent );
	$want = array_map( function ( $id ) { return $id . '#1'; }, $retried_ids );
	sort( $want );
	check( $sent === $want, 'retries sent again as attempt 1 with their webhook-ids: ' . implode( ' ', $sent ) . ' (not the 401 one: ' . $failed_ids[0] . ')' );
}

// 5. The worker purged what the receiver accepted (log provider).
usleep( 500000 );
$purged = array_filter(
	log_lines( $log ),
	function ( $line ) {
		return 'purge (log provider)' === $line['fields']['message'];
	}
);
$all = implode( "\n", array_map( function ( $line ) { return $line['fields']['action']; }, $purged ) );
check( false !== strpos( $all, $published['permalink'] ), 'the log target purged the first post\'s permalink ' . $published['permalink'] . ' (' . count( $purged ) . ' purges logged)' );

echo $failed ? "$failed check(s) FAILED\n" : "all checks passed\n";
exit( $failed ? 1 : 0 );
