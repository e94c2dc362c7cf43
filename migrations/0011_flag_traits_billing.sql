-- The rest of a customer's billing state beside its plan, as the flag properties billing
-- publishes with it: {"$plan_status", "$mrr", "$entitlements", "$billing_customer_id"}.
-- Written with plan and plan_at (newest wins), so the two never disagree.
ALTER TABLE flag_traits ADD COLUMN billing jsonb;
