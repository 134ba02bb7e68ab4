import EsteiraPipeline
import Foundation

extension Worker {
    /// A file committed (not a duplicate delivery): told to those who asked for SUCCEEDED. Never waits.
    func announceSucceeded(_ object: ObjectCreated, outcome: FileOutcome) {
        guard let notifier else { return }
        let route = try? pipeline.route(forKey: object.key)
        notifier.enqueue(
            FileNotification(
                event: .succeeded, bucket: object.bucket, key: object.key, version: object.versionID,
                route: route?.name,
                tenant: route?.tenant, table: outcome.table, code: nil, reason: nil, rowsLoaded: outcome.rowsLoaded,
                rowsRejected: outcome.rowsRejected, rejectsURI: outcome.rejectsURI, jobID: JobLedger.jobID(object),
                worker: settings.workerID), route: route.flatMap { try? NotifyTargets.route($0) })
    }

    /// A file dead-lettered: told to every target (FAILED is on by default). Never waits.
    func announceFailed(
        _ object: ObjectCreated, code: String, reason: String, route routeName: String?, rejectsURI: String?
    ) {
        guard let notifier else { return }
        // The route's own targets only when the file was matched to it (not for a foreign bucket).
        let route = routeName == nil ? nil : try? pipeline.route(forKey: object.key)
        notifier.enqueue(
            FileNotification(
                event: .failed, bucket: object.bucket, key: object.key, version: object.versionID,
                route: route?.name ?? routeName,
                tenant: route?.tenant, table: route?.table, code: code, reason: reason, rowsLoaded: nil,
                rowsRejected: nil,
                rejectsURI: rejectsURI, jobID: JobLedger.jobID(object), worker: settings.workerID),
            route: route.flatMap { try? NotifyTargets.route($0) })
    }
}
