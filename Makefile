# Thin wrapper over CMake presets. The two commands the README documents:
#   make run    installs what is missing, builds Release, runs the main job (chimera run, all defaults)
#   make test   installs what is missing, builds Release, runs every test with ctest
JOBS ?= $(shell nproc)
PRESET ?= release
BUILD := build/$(PRESET)

.PHONY: all setup configure build run test asan fuzz format clean package install

all: build

setup:
	./scripts/setup.sh

configure:
	@test -f $(BUILD)/build.ninja || cmake --preset $(PRESET)

build: configure
	cmake --build $(BUILD) -j $(JOBS)
	@ln -sf $(BUILD)/compile_commands.json compile_commands.json

run: setup
	$(MAKE) build PRESET=release
	./build/release/chimera run $(ARGS)

test:
	./scripts/setup.sh --tests
	$(MAKE) build PRESET=release
	cd build/release && ctest --output-on-failure -j $(JOBS) --timeout 900

asan: setup
	$(MAKE) build PRESET=asan
	cd build/asan && ctest --output-on-failure -j $(JOBS) --timeout 1800

fuzz:
	$(MAKE) build PRESET=fuzz

# build/release/package/chimera_<version>_amd64.deb (Depends from dpkg-shlibdeps)
package:
	$(MAKE) build PRESET=release
	cd build/release && cpack -G DEB

# PREFIX=/usr/local by default; DESTDIR works as usual
PREFIX ?= /usr/local
install:
	$(MAKE) build PRESET=release
	cmake --install build/release --prefix $(PREFIX)

format:
	find src apps tests bench -name '*.cpp' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf build
