import EsteiraAWS

extension FilePipeline {
    /// S3's limit for an object key, in UTF-8 bytes.
    static let maxKeyBytes = 1024

    /// Where the refused rows of `key` go: `esteira-rejects/<key>.rejects.csv`, or, when that would pass
    /// S3's 1,024-byte key limit, `esteira-rejects/<tenant>/<sha256 of the key>.rejects.csv` (the worker
    /// records the name in the job item and the log, so it can be found from the source key).
    public static func rejectsKey(for key: String) -> String {
        let plain = rejectsPrefix + key + ".rejects.csv"
        guard plain.utf8.count > maxKeyBytes else { return plain }
        let hash = Digest.hex(Digest.sha256(key))
        let tenant = key.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let room = maxKeyBytes - (rejectsPrefix.utf8.count + 1 + hash.utf8.count + ".rejects.csv".utf8.count)
        guard !tenant.isEmpty, tenant.utf8.count <= room else { return rejectsPrefix + hash + ".rejects.csv" }
        return rejectsPrefix + tenant + "/" + hash + ".rejects.csv"
    }
}
