// swift-tools-version: 6.0
// Moosync Audio Share: `msrecv` (speaker firmware) and `mshost` (lightweight host).
// Module cut and dependency direction: docs/DESIGN.md §4 (everything points towards Core).
import Foundation
import PackageDescription

// Both daemons carry the Swift runtime inside them: the speaker image ships no Swift runtime and
// the static runtime saves ~2.7 MB of RSS (DESIGN §4, Memory).
let staticRuntime: [LinkerSetting] = [.unsafeFlags(["-static-stdlib"])]

// msrecv's peak RSS (DESIGN §4, Memory). The functions a speaker runs are placed side by side
// in its text (the linker reads the list; a name it does not find is skipped): scattered over the 5 MB
// binary, each first call would make the kernel map the code around it (64 KB while loading,
// 16 KB once msrecv has split its mappings: Core's releaseCodePages); together they fill a few
// pages (scripts/profile-text-order.sh). And the C++ runtime the Swift runtime needs,
// libopus and mbedTLS are linked in statically (link/lib*.so are linker scripts that shadow the
// shared libraries): a shared library costs its symbol tables, relocations and the code around
// each function used; libstdc++ and libgcc_s alone were ~0.8 MB for a few functions, libopus
// and mbedTLS another 0.3 MB. libm cannot follow: glibc's libm.a needs libc's internals.
let receiverLink = String(#filePath.dropLast("/Package.swift".count)) + "/Sources/msrecv/link"
// Each linker takes the list its own way. gold, swiftc's choice where it is installed: the
// sections as listed. lld (the arm64 cross build, image/build.sh): the same functions as
// symbols, in the file MOOSYNC_SYMBOL_ORDER names. BFD, swiftc's choice where gold is not
// installed (Debian 13 splits it out; 2.43 and later read the option): the same sections as a
// SECTIONS fragment, text-order.ld, which scripts/profile-text-order.sh writes beside the list.
let textOrder: [String] =
    if let symbols = Context.environment["MOOSYNC_SYMBOL_ORDER"] {
        ["-Xlinker", "--symbol-ordering-file=\(symbols)", "-Xlinker", "--no-warn-symbol-ordering"]
    } else if FileManager.default.fileExists(atPath: "/usr/bin/ld.gold") {
        ["-Xlinker", "--section-ordering-file=\(receiverLink)/text-order.txt"]
    } else {
        ["-Xlinker", "--section-ordering-file=\(receiverLink)/text-order.ld"]
    }
let receiverMemory: [LinkerSetting] = [.unsafeFlags(textOrder + ["-L", receiverLink, "-Xclang-linker", "-static-libgcc"])]

// Every function of ours in a section of its own, so that text order can place it (without it
// the compiler puts most of a module's functions in one .text section that moves as a whole).
let orderable: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release))]

// Headers and libraries are in the default search paths on Debian, so no pkg-config: the -L
// SwiftPM derives from it would put the system directory ahead of msrecv's link shims.
func cLibrary(_ name: String, apt: String) -> Target {
    .systemLibrary(name: name, providers: [.apt([apt])])
}

let package = Package(
    name: "MoosyncAudioShare",
    products: [
        .executable(name: "msrecv", targets: ["msrecv"]),
        .executable(name: "mshost", targets: ["mshost"]),
        // For Benchmarks/ (its own package): the receiver's audio path under a stepped clock.
        .library(name: "AudioPathHarness", targets: ["AudioPathHarness"]),
    ],
    targets: [
        // Five of the six Debian C libraries, each a module map plus a header of inline shims.
        cLibrary("COpus", apt: "libopus-dev"),
        cLibrary("CFLAC", apt: "libflac-dev"),
        cLibrary("CAlsa", apt: "libasound2-dev"),
        cLibrary("CSamplerate", apt: "libsamplerate0-dev"),
        cLibrary("CMbedTLS", apt: "libmbedtls-dev"),
        cLibrary("CGpiod", apt: "libgpiod-dev"),

        // The sixth, Avahi, is loaded on first use, not linked (its header says why): its
        // headers (libavahi-client-dev) and a table of its functions, and an AvahiPoll on our reactor.
        .target(name: "CAvahi"),

        // Linux calls Swift cannot make directly (GNU extensions, variadics).
        .target(name: "CMoosyncLinux", cSettings: [.define("_GNU_SOURCE")]),

        // Types and algorithms on the standard library alone: JSON, clocks and their estimation,
        // the real-time pool, ring and jitter buffer.
        .target(name: "Core", swiftSettings: orderable),
        // What the operating system does for the daemons: errno, files and directories, memory
        // (mapping, locking), threads, the monotonic clock, the log.
        .target(name: "Platform", dependencies: ["Core", "ProtocolMessages", "CMoosyncLinux"], swiftSettings: orderable),
        .target(name: "Codec", dependencies: ["Core", "ProtocolMessages", "COpus", "CFLAC"], swiftSettings: orderable),
        // The receiver's drift resampler, its inner loop in C (an AVX2/FMA variant picked at run
        // time on x86-64), and libsamplerate for the host's whole-file rate conversion: msrecv
        // does not load libsamplerate. Function sections let msrecv's text order place the loop.
        .target(name: "CFractionalDelay", cSettings: [.unsafeFlags(["-O3", "-ffunction-sections"])]),
        .target(name: "Resample", dependencies: ["Core", "Audio", "CFractionalDelay"], swiftSettings: orderable),
        .target(name: "SampleRateConversion", dependencies: ["CSamplerate"]),
        // Audio's types (sample formats, gain, the volume scale, channel mixes, WAV) and the ALSA
        // backend.
        .target(name: "Audio", dependencies: ["Core", "Platform", "CAlsa"], swiftSettings: orderable),
        .target(name: "Secure", dependencies: ["Core", "Platform", "CMbedTLS", "Transport"], swiftSettings: orderable),
        .target(name: "Discovery", dependencies: ["Core", "CAvahi", "Transport"], swiftSettings: orderable),
        .target(name: "Board", dependencies: ["Core", "Platform", "CGpiod"], swiftSettings: orderable),
        .target(name: "Transport", dependencies: ["Core", "Platform", "ProtocolMessages", "CMoosyncLinux"], swiftSettings: orderable),
        .target(name: "Config", dependencies: ["Core", "Platform", "ProtocolMessages", "Audio"], swiftSettings: orderable),
        // The wire format and the typed messages both ends exchange, and the events a daemon
        // logs: each JSON key written once, every number a peer sends range-checked.
        .target(name: "ProtocolMessages", dependencies: ["Core"], swiftSettings: orderable),
        .target(
            name: "Receiver",
            dependencies: ["Core", "ProtocolMessages", "Transport", "Codec", "Resample", "Audio", "Config", "Secure", "Discovery", "Board", "Platform"],
            swiftSettings: orderable),
        .target(
            name: "Host",
            dependencies: ["Core", "ProtocolMessages", "Transport", "Codec", "SampleRateConversion", "Audio", "Config", "Secure", "Discovery", "Platform"]),
        // The daemons name the TLS and GPIO libraries they were built against in --version (the
        // trixie check reads it); the engines do not use them yet.
        .executableTarget(
            name: "msrecv",
            dependencies: ["Receiver", "Audio", "Board", "Codec", "Config", "Core", "Discovery", "ProtocolMessages", "Secure", "Transport", "Platform"],
            exclude: ["link"], swiftSettings: orderable,
            linkerSettings: staticRuntime + receiverMemory),
        .executableTarget(
            name: "mshost",
            dependencies: ["Host", "Codec", "Config", "Core", "ProtocolMessages", "SampleRateConversion", "Secure", "Transport", "Audio", "Platform"],
            linkerSettings: staticRuntime),

        // Runs the receiver's audio path in a loop for the counted-allocation test.
        .target(name: "AudioPathHarness", dependencies: ["Receiver", "Codec", "Resample", "Audio", "Transport", "Core", "ProtocolMessages"]),
        .executableTarget(name: "audio-path-probe", dependencies: ["AudioPathHarness"], path: "Tests/AudioPathProbe"),

        // A peer's blocking I/O and a host stepped by a test, for tests that play one.
        .target(name: "TestSupport", dependencies: ["Core", "ProtocolMessages", "Transport", "Platform"], path: "Tests/TestSupport"),
        .testTarget(name: "CoreTests", dependencies: ["Core", "Transport", "TestSupport", "Audio", "Platform", "ProtocolMessages"]),
        .testTarget(name: "ProtocolMessagesTests", dependencies: ["ProtocolMessages", "Core"]),
        .testTarget(
            name: "HostTests",
            dependencies: [
                "Host", "Receiver", "AudioPathHarness", "Secure", "ProtocolMessages", "Transport", "Core", "Codec", "Config", "TestSupport", "Platform",
            ]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "Core"]),
        .testTarget(name: "BoardTests", dependencies: ["Board", "Core", "Platform"]),
        .testTarget(name: "SecureTests", dependencies: ["Secure", "Transport", "Core", "Platform", "CMbedTLS"]),
        .testTarget(
            name: "ReceiverTests",
            dependencies: [
                "Receiver", "AudioPathHarness", "Transport", "Config", "Codec", "Audio", "Core", "Discovery", "ProtocolMessages", "TestSupport", "Platform",
                "Resample", "Secure",
            ]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "Resample", "SampleRateConversion", "Audio", "Core"]),
        // Drives the built binaries (`swift build` first; scripts/test.sh does).
        .testTarget(
            name: "EndToEndTests", dependencies: ["Core", "Config", "ProtocolMessages", "Transport", "Audio", "Secure", "Discovery", "TestSupport", "Platform"]),
    ]
)
