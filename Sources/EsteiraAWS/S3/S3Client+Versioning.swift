import Foundation

extension S3Client {
    /// Turns versioning on (or suspends it) for a bucket. Esteira's own resources do not need it; tests and
    /// operators use it for buckets whose object versions are the ledger's key.
    public func putBucketVersioning(bucket: String, enabled: Bool) async throws {
        let xml =
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>"
            + (enabled ? "Enabled" : "Suspended") + "</Status></VersioningConfiguration>"
        _ = try await client.send(
            operation(
                "PutBucketVersioning", method: "PUT", bucket: bucket, query: [("versioning", "")],
                headers: [("content-type", "application/xml")], body: Array(xml.utf8)),
            errorParser: .xml)
    }
}
