"""The product catalog: products, rate plans, charges and their price tiers."""
