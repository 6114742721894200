// swift-tools-version:6.1
//
// libibtpo: an IB-TPO / GRPO trainer for small Llama-style policies on BLIS.
//
// Environment switches (read when the manifest is evaluated):
//   IBTPO_RELEASE_LIB=1  link libibtpo.so with -static-stdlib and a version script that
//                        exports only ibtpo_* (used by `make lib`; breaks `swift test`).
//   IBTPO_GENERIC=1      do not pass -target-cpu haswell (for CPUs without AVX2/FMA).
import PackageDescription

let env = Context.environment
let releaseLib = env["IBTPO_RELEASE_LIB"] == "1"
let generic = env["IBTPO_GENERIC"] == "1"

var coreSwiftFlags: [String] = [
    "-Xfrontend", "-disable-implicit-concurrency-module-import",
    "-Xfrontend", "-disable-implicit-string-processing-module-import",
]
if !generic { coreSwiftFlags += ["-target-cpu", "haswell"] }

// BLIS: the serial build of Debian's libblis (libblis-serial-dev). libibtpo does its own
// threading and calls BLIS single-threaded; the OpenMP build would allocate a team
// descriptor in libgomp on every single-threaded call and spin-wait between calls.
// The RUNPATH makes the loader pick the serial libblis.so.4 whatever the system's
// libblis alternative points to. IBTPO_BLIS_DIR overrides the directory.
let blisDir = env["IBTPO_BLIS_DIR"] ?? "/usr/lib/x86_64-linux-gnu/blis-serial"
var coreLinker: [LinkerSetting] = [
    .unsafeFlags(["-L\(blisDir)", "-Xlinker", "-rpath", "-Xlinker", blisDir]),
]
if releaseLib {
    coreLinker.append(.unsafeFlags([
        "-static-stdlib",
        // SONAME: the major version (same major = ABI-compatible, see include/ibtpo.h).
        "-Xlinker", "-soname", "-Xlinker", "libibtpo.so.0",
        "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/IBTPO/API/exports.map",
    ]))
}

let package = Package(
    name: "libibtpo",
    products: [
        .library(name: "ibtpo", type: .dynamic, targets: ["IBTPO"]),
        // Static archive of the core, turned into the self-contained dist/lib/libibtpo.a by `make lib`.
        .library(name: "ibtpo-static", type: .static, targets: ["IBTPO"]),
        .library(name: "IBTPOCore", targets: ["IBTPO"]),
        .executable(name: "ibtpo-cli", targets: ["ibtpo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The CLI's --config FILE (YAML). Only the CLI target depends on it, never the core.
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "CBLIS", path: "Sources/CBLIS"),
        .systemLibrary(name: "CIBTPO", path: "include"),
        .systemLibrary(name: "CAtomics", path: "Sources/CAtomics"),
        // Our sgemm micro-kernels for BLIS's framework and their run-time selection. No
        // target-wide -m flags: each kernel carries a target attribute and runs only after
        // cpuid + xgetbv allow it, so one library runs on every x86-64 CPU.
        // -gdwarf-4: clang's default DWARF 5 makes valgrind 3.19 (Debian 12) give up on the library.
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        .target(
            name: "IBTPO",
            dependencies: ["CBLIS", "CIBTPO", "CAtomics", "CKernels"],
            swiftSettings: [.unsafeFlags(coreSwiftFlags)],
            linkerSettings: coreLinker
        ),
        .executableTarget(
            name: "ibtpo",
            dependencies: ["IBTPO", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Yams", package: "Yams")],
            swiftSettings: [.unsafeFlags(generic ? [] : ["-target-cpu", "haswell"])]
        ),
        .target(name: "CAllocCounter", path: "Tests/CAllocCounter"),
        .testTarget(
            name: "IBTPOTests",
            dependencies: ["IBTPO", "CAllocCounter"],
            swiftSettings: [.unsafeFlags(generic ? [] : ["-target-cpu", "haswell"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
