<?php
/**
 * A menu location and a sidebar, so menus and widgets can be saved.
 *
 * @package purgehook-test
 */

add_action(
	'after_setup_theme',
	function () {
		register_nav_menus( array( 'primary' => 'Primary' ) );
	}
);
add_action(
	'widgets_init',
	function () {
		register_sidebar(
			array(
				'id'   => 'sidebar',
				'name' => 'Sidebar',
			)
		);
	}
);
