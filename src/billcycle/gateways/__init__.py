"""Payment gateways: the interface every gateway adapter implements, their discovery
through the ``billcycle.gateways`` entry-point group (a Stripe or Adyen adapter installs
as its own package), each tenant's configured gateways, and the built-in deterministic
test gateway, whose charge book lives in the database so a crashed process's charges
stay visible to the reconciler."""
