# Each target is one command. `make test` is what CI runs (.ci/run).
.PHONY: deps run test bench lint doc boundaries deploy-check api-check stack

deps:
	deploy/scripts/install-deps.sh

run: deps
	cargo run --quiet -p onboard -- demo

bench: deps
	cargo bench -p onboarding-queue -p onboard-e2e

lint:
	cargo fmt --all --check && cargo clippy --workspace --all-targets -- -D warnings && cargo deny check bans licenses sources

doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

boundaries:
	deploy/scripts/check-boundaries.sh

deploy-check: deps
	deploy/scripts/check-deploy.sh

api-check: deps
	deploy/scripts/check-api.sh

stack:
	deploy/scripts/stack-up.sh

test: deps lint boundaries doc deploy-check api-check
	cargo test --workspace
