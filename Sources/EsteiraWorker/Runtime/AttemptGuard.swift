import EsteiraAWS
import EsteiraPipeline
import Foundation
import Logging

/// A file that kills its worker must not kill the next one too: each claim counts as a started attempt
/// and each recorded outcome as an ended one, so attempts that never ended are those whose process died.
/// Past `maxCrashes` of them the version is refused as `Crashed` before a byte of it is read.
enum AttemptGuard {
    /// The refusal for a version whose earlier attempts died `maxCrashes` times or more; nil to go ahead.
    static func verdict(_ history: AttemptHistory, maxCrashes: Int) -> PipelineError? {
        let died = history.diedBefore
        guard died >= max(1, maxCrashes) else { return nil }
        let stage = history.lastStage ?? LoadProgress.Stage.claimed.rawValue
        return PipelineError(
            .crashed,
            "the worker process died \(died) times while loading this version (last stage reached: \(stage)); dead-lettered without reading it again. Check the workers' logs for the crash, fix or split the file, then replay it (esteira dlq replay)"
        )
    }
}

extension Worker {
    /// The attempts so far: those the claim's answer carried, else read (nil when that read failed).
    func attemptsSoFar(_ object: ObjectCreated, answered: AttemptHistory?, log: Logger) async -> AttemptHistory? {
        if let answered { return answered }
        do {
            return try await jobs.attemptHistory(object)
        } catch {
            log.warning("could not read the file's attempt history", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Checks the attempts before ours (just claimed); unknown attempts (nil) let the load go ahead.
    func crashedEarlier(_ object: ObjectCreated, token: Int64, history: AttemptHistory?, log: Logger) async
        -> PipelineError?
    {
        guard let history else { return nil }
        if history.diedBefore > 0 {
            log.warning(
                "earlier attempts on this file ended with the process dying",
                metadata: [
                    "died": "\(history.diedBefore)", "last_stage": "\(history.lastStage ?? "claimed")",
                    "max_crashes": "\(settings.maxCrashes)",
                ])
        }
        let verdict = AttemptGuard.verdict(history, maxCrashes: settings.maxCrashes)
        if verdict != nil {
            try? await jobs.forgiveDeaths(object, owner: settings.workerID, fencingToken: token)
        }
        return verdict
    }

    /// The load's progress. A version whose earlier attempts died (or whose attempts are unknown) records
    /// each stage in the job item before the stage's work starts, so the next death says where; any other
    /// load leaves its stage to the heartbeat's lease extension (one write, and none for a file that
    /// loads within a heartbeat period).
    func tracking(_ object: ObjectCreated, token: Int64, history: AttemptHistory?) -> LoadProgress {
        if let history, history.diedBefore == 0 { return LoadProgress() }
        let jobs = self.jobs
        let owner = settings.workerID
        let logger = self.logger
        return LoadProgress { stage in
            do {
                try await jobs.recordStage(object, owner: owner, fencingToken: token, stage: stage.rawValue)
            } catch {
                logger.debug(
                    "could not record the load's stage", metadata: ["error": "\(error)", "key": "\(object.key)"])
            }
        }
    }
}
