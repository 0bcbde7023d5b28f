"""Objects in etcd: key layout, encoding (with encryption at rest), CRUD with optimistic concurrency."""
