/// The version of this warren build: printed by `warren --version`, sent in `warren status --json`
/// and compared by a person reading both sides of a problem. One constant, raised with each
/// release; not derived from git, so a build from a source tarball says the same.
public enum WarrenVersion {
    public static let current = "0.9.0"
}
