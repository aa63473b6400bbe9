"""What the people who run billcycle look at: scrape-time metrics read from the database,
readiness checks for load balancers and Kubernetes probes."""
