// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "warren",
    products: [
        .executable(name: "warren", targets: ["warren"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims: system libraries and the few Linux things Swift cannot import.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]
        ),
        .systemLibrary(
            name: "CSecp256k1",
            pkgConfig: "libsecp256k1",
            providers: [.apt(["libsecp256k1-dev"])]
        ),
        .target(name: "CLinuxShim"),

        // Pure layers: bytes and time in, bytes and timers out.
        .target(name: "WarrenCrypto", dependencies: ["CSodium"]),
        .target(name: "WireGuard", dependencies: ["WarrenCrypto"]),
        .target(name: "Session", dependencies: ["WarrenCrypto", "WireGuard", "CSodium"]),
        .target(name: "Policy", dependencies: ["WireGuard"]),
        .target(name: "Payment", dependencies: ["WarrenCrypto", "Session", "CSecp256k1", "CSodium"]),

        // The config files: parsed and checked, every error naming file, line and key.
        .target(name: "Configuration", dependencies: ["WireGuard", "Session", "Payment", "LinuxPlatform"]),

        // Thin typed wrappers over Linux.
        .target(name: "LinuxPlatform", dependencies: ["CLinuxShim", "CNetlink"]),
        // In-memory packet device and sockets behind LinuxPlatform's protocols; tests only.
        .target(name: "PlatformFakes", dependencies: ["LinuxPlatform"]),

        // The packet path: the core's tunnel over the platform's packet device and datagram
        // socket, on dedicated threads, asking one role per packet and per tick.
        .target(name: "PacketPath", dependencies: ["WireGuard", "Session", "LinuxPlatform"]),

        // The agent: config, data-plane threads, control socket.
        .target(name: "Agent", dependencies: ["Configuration", "PacketPath", "WireGuard", "WarrenCrypto", "LinuxPlatform", "Session", "Policy", "Payment"]),

        .executableTarget(
            name: "warren",
            dependencies: [
                "Agent", "Configuration", "WarrenCrypto", "LinuxPlatform", "PacketPath", "Session", "Payment",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test doubles and helpers shared by the test targets (only test targets depend on it).
        .target(name: "WarrenTestSupport", dependencies: ["Payment", "WarrenCrypto"]),

        .testTarget(name: "WarrenCryptoTests", dependencies: ["WarrenCrypto", "CSodium"]),
        .testTarget(name: "WireGuardTests", dependencies: ["WireGuard", "WarrenCrypto", "WarrenTestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Configuration", "PacketPath", "WireGuard", "LinuxPlatform", "PlatformFakes", "Payment", "Session", "WarrenTestSupport"]),
        .testTarget(name: "SessionTests", dependencies: ["Session", "WireGuard", "WarrenCrypto"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "WireGuard", "WarrenTestSupport"]),
        // Agent for its disk adapters (DiskChannelFiles, DiskLedgerFiles): the disk tests prove them.
        .testTarget(name: "PaymentTests", dependencies: ["Payment", "WarrenCrypto", "WarrenTestSupport", "Agent"]),
        .testTarget(name: "LinuxPlatformTests", dependencies: ["LinuxPlatform"]),
    ],
    swiftLanguageModes: [.v6]
)
