"""Package data (templates / documents), a package so that wheels include it."""
