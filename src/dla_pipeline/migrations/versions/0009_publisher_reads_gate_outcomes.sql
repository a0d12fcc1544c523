-- A publish publishes only the build its run's gate passed: it compares when the gate
-- recorded its outcomes with when the build in marts_build began (publish._gated_build).
-- A warehouse provisioned before this gets the grant here; `make setup` grants it too
-- (roles.grant_pipeline).
grant select on ops.quality_results to dla_publisher;
