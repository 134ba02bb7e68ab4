/// The object version one run of the pipeline loads.
public struct SourceObject: Sendable, Equatable {
    public var bucket: String
    public var key: String
    /// S3 version id on versioned buckets.
    public var versionID: String?
    /// ETag from the notification; with `versionID` it names exactly one version of the object.
    public var eTag: String?

    public init(bucket: String, key: String, versionID: String? = nil, eTag: String? = nil) {
        self.bucket = bucket
        self.key = key
        self.versionID = versionID
        self.eTag = eTag
    }

    /// The identity the MySQL ledger keys on.
    public var version: String {
        versionID ?? eTag.map { String($0.filter { $0 != "\"" }) } ?? "unversioned"
    }

    public var uri: String { "s3://\(bucket)/\(key)" }
}

/// What loading one file did.
public struct FileOutcome: Sendable, Equatable {
    public var table: String
    public var rowsLoaded: Int
    public var rowsRejected: Int
    public var bytesRead: Int64
    /// The version was committed before (a duplicate delivery): nothing was written this time.
    public var alreadyLoaded: Bool
    /// Where the refused rows were written, when there were any.
    public var rejectsURI: String?
    /// Rows dropped because their key repeated an earlier row's (the first one was loaded).
    public var rowsDuplicate = 0
    /// Rows of earlier loads of the same file deleted in the same transaction (replace-by-file, reload).
    public var rowsReplaced = 0
    /// Columns this file added to its table (`extra_columns: add`).
    public var columnsAdded: [String] = []
    /// Rows with every field empty, skipped.
    public var rowsEmpty = 0
    /// What the file turned out to be: `gzip`/`zlib`/`none`, the charset, and the delimiter.
    public var compression: String?
    public var charset: String?
    public var delimiter: String?
}

/// Why a file did not load, classified once where the failure was caught.
public struct PipelineError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public var description: String { rawValue }
        public static let noRoute = Code(rawValue: "NoRoute")
        public static let objectMissing = Code(rawValue: "ObjectMissing")
        public static let badHeader = Code(rawValue: "BadHeader")
        public static let badCSV = Code(rawValue: "BadCSV")
        /// A gzip/zlib stream that is corrupt or cut short.
        public static let badCompression = Code(rawValue: "BadCompression")
        /// Bigger than a limit allows: the file inflates past the decompression limits (a bomb), with the
        /// limit it hit in the message. (The worker also uses this code for --max-file-size.)
        public static let tooLarge = Code(rawValue: "TooLarge")
        public static let tooManyRejects = Code(rawValue: "TooManyRejects")
        public static let database = Code(rawValue: "Database")
        public static let storage = Code(rawValue: "Storage")
        public static let versionChanged = Code(rawValue: "VersionChanged")
        /// The destination table cannot take the route contract's rows (`create_table: true` checks it).
        public static let incompatibleTable = Code(rawValue: "IncompatibleTable")
        /// The claim on the file passed to another worker (its lease could not be extended); rolled back.
        public static let leaseLost = Code(rawValue: "LeaseLost")
        /// The load was stopped (shutdown, or its task cancelled) before COMMIT; rolled back.
        public static let cancelled = Code(rawValue: "Cancelled")
        /// Earlier attempts on this version ended with the worker process dying: not read again.
        public static let crashed = Code(rawValue: "Crashed")
        /// No progress for the stall timeout, or past the route's `max_duration`: abandoned.
        public static let stalled = Code(rawValue: "Stalled")
    }

    public var code: Code
    public var message: String
    public var isTransient: Bool
    /// Where the refused rows were written when the file failed for them (`TooManyRejects`).
    public var rejectsURI: String?

    public init(_ code: Code, _ message: String, transient: Bool = false) {
        self.code = code
        self.message = message
        self.isTransient = transient
    }

    public var description: String { "\(code): \(message)" }
}
