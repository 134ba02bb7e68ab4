import EsteiraCSV
import Foundation

/// The routes file's `fair_share:` section: whether each tenant has its own queue, and each tenant's weight
/// in the workers' deficit round robin across the queues (see docs/ARCHITECTURE.md, "Fair share").
///
/// ```yaml
/// fair_share:
///   queues: per_tenant     # per_tenant | shared (absent section: shared, the one queue)
///   weights:               # optional; a tenant not named has weight 1 (1…100)
///     acme: 3
/// ```
public struct FairShare: Sendable, Equatable, Decodable {
    public enum Queues: String, Sendable, Equatable, Decodable {
        /// One queue per tenant, `<queue>-<tenant>`, plus the shared queue.
        case perTenant = "per_tenant"
        /// The one shared queue (today's behaviour).
        case shared
    }

    public var queues: Queues
    /// Tenant → weight (1…100); tenants not named weigh 1.
    public var weights: [String: Int]

    public static let maxWeight = 100

    public init(queues: Queues = .shared, weights: [String: Int] = [:]) {
        self.queues = queues
        self.weights = weights
    }

    /// The weight of a tenant (1 unless named).
    public func weight(of tenant: String) -> Int { weights[tenant] ?? 1 }

    public init(from decoder: Decoder) throws {
        try SectionKeys.refuseUnknown(in: decoder, known: ["queues", "weights"], section: "fair_share: ")
        let c = try decoder.container(keyedBy: MappingKeys.self)
        if let text = try? c.decodeIfPresent(String.self, forKey: MappingKeys(stringValue: "queues")) {
            guard let q = Queues(rawValue: text) else {
                throw RoutingError("fair_share: queues must be per_tenant or shared, not '\(text)'")
            }
            queues = q
        } else if c.contains(MappingKeys(stringValue: "queues")) {
            throw RoutingError("fair_share: queues must be per_tenant or shared")
        } else {
            queues = .shared
        }
        let weightsKey = MappingKeys(stringValue: "weights")
        if c.contains(weightsKey), (try? c.decodeNil(forKey: weightsKey)) != true {
            guard let w = try? c.decode([String: Int].self, forKey: weightsKey) else {
                throw RoutingError(
                    "fair_share: weights must map each tenant to a whole number from 1 to \(Self.maxWeight) (acme: 3)")
            }
            weights = w
        } else {
            weights = [:]
        }
    }

    /// Checks the weights against the routes' tenants: each named tenant has a route, each weight is 1…100.
    public func check(tenants: Set<String>) throws(RoutingError) {
        for (tenant, weight) in weights.sorted(by: { $0.key < $1.key }) {
            guard tenants.contains(tenant) else {
                throw RoutingError(
                    "fair_share: weights name tenant '\(tenant)', which has no route; add its routes or remove its weight"
                )
            }
            guard (1...Self.maxWeight).contains(weight) else {
                throw RoutingError(
                    "fair_share: weight of '\(tenant)' is \(weight); weights are whole numbers from 1 to \(Self.maxWeight)"
                )
            }
        }
    }

    /// The name of a tenant's queue, `<main queue>-<tenant>`, checked against SQS's rule (1–80 letters,
    /// digits, '-' or '_'); throws what is wrong and what to do.
    public static func queueName(main: String, tenant: String) throws(RoutingError) -> String {
        let name = "\(main)-\(tenant)"
        guard name.utf8.count <= 80 else {
            throw RoutingError(
                "tenant queue '\(name)' is longer than SQS's 80 characters; use a shorter queue name (--queue) or tenant name"
            )
        }
        guard
            name.utf8.allSatisfy({
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
                    || $0 == 0x2D
            })
        else {
            throw RoutingError("tenant queue '\(name)' is not an SQS queue name (letters, digits, '-' and '_' only)")
        }
        return name
    }
}
