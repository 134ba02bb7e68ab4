import EsteiraSync

/// The package's lock box (a `Mutex` in a final class), by its short name inside this module.
typealias Locked<Value> = EsteiraSync.Locked<Value>
