"""The built-in strategies; importing this package registers them."""
