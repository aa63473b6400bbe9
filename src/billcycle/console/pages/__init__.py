"""The console's pages, one module per area; ``registry.ROUTERS`` lists them."""
