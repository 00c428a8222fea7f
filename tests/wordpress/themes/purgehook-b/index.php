<?php
/**
 * The only template: a list of posts.
 *
 * @package purgehook-test
 */

?><!doctype html>
<html <?php language_attributes(); ?>>
<head><?php wp_head(); ?></head>
<body>
<?php wp_nav_menu( array( 'theme_location' => 'primary', 'fallback_cb' => false ) ); ?>
<?php
while ( have_posts() ) {
	the_post();
	the_title( '<h2><a href="' . esc_url( get_permalink() ) . '">', '</a></h2>' );
}
dynamic_sidebar( 'sidebar' );
wp_footer();
?>
</body>
</html>
