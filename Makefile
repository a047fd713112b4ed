# Each target is one command. `make test` is what CI runs (.ci/run).
.PHONY: deps run test bench lint doc boundaries

deps:
	deploy/scripts/install-deps.sh

run: deps
	cargo run --quiet -p onboard -- demo

bench: deps
	cargo bench -p onboarding-queue -p onboard-e2e

lint:
	cargo fmt --all --check && cargo clippy --workspace --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

boundaries:
	deploy/scripts/check-boundaries.sh

test: deps lint boundaries doc
	cargo test --workspace
