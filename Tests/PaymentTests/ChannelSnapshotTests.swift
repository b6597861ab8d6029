import Agent
import Glibc
import Testing
@testable import Payment

/// `ChannelStore.snapshot`: what a CLI reads next to a running agent, touching nothing.
@Suite struct ChannelSnapshotTests {
    @Test func snapshotReadsWithoutRemovingOrCreating() throws {
        let directory = PaymentFixture.temporaryDirectory()
        defer { ChannelStoreTests.removeStore(directory) }
        let good = ChannelStoreTests.channel(20), other = ChannelStoreTests.channel(21), torn = ChannelStoreTests.channel(22)
        var store = try ChannelStore.load(files: DiskChannelFiles(directory: directory))
        for channel in [other, good, torn] {
            try store.add(ChannelRecord(role: .provider, channel: channel), now: 100)
        }
        let tornPath = directory + "/" + ChannelStore.fileName(torn.id)
        #expect(truncate(tornPath, 100) == 0)
        // An agent's write in progress: the snapshot must leave it alone.
        let inProgress = directory + "/" + ChannelStore.fileName(good.id) + ".tmp"
        ChannelStoreTests.writeFile(inProgress, [1, 2, 3])

        let snapshot = try ChannelStore.snapshot(files: DiskChannelFiles(directory: directory))
        #expect(snapshot.records.map(\.id) == [good.id, other.id].sorted())
        #expect(snapshot.damaged == [ChannelStore.fileName(torn.id)])
        #expect(access(inProgress, F_OK) == 0)

        let missing = directory + "/missing"
        let empty = try ChannelStore.snapshot(files: DiskChannelFiles(directory: missing))
        #expect(empty.records.isEmpty && empty.damaged.isEmpty)
        #expect(access(missing, F_OK) != 0)
    }
}
