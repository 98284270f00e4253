/// Keeps a large value out of line: a struct holding it copies one reference, not its bytes.
///
/// A run copies each certificate's entry from the inventory into its plan, its report and its
/// status. Inline, an entry was about 1 KB (the desired certificate with its settings, the
/// Secret's metadata, two records), so those copies were most of a 10,000-certificate run's
/// memory. The box is immutable: setting the value makes a new one, so it is `Sendable` as its
/// value is.
@propertyWrapper
public struct Boxed<Value: Sendable>: Sendable {
    private typealias Box = ImmutableBox<Value>

    private var box: Box

    public init(wrappedValue: Value) {
        box = Box(wrappedValue)
    }

    public var wrappedValue: Value {
        get { box.value }
        set { box = Box(newValue) }
    }
}

extension Boxed: Equatable where Value: Equatable {
    public static func == (lhs: Boxed, rhs: Boxed) -> Bool {
        lhs.box === rhs.box || lhs.wrappedValue == rhs.wrappedValue
    }
}

/// ``Boxed`` for an optional value: nothing is allocated while it is nil. Most of a run's
/// certificates have no pending record, and a Secret that certctl never wrote has no record, so
/// at 10,000 certificates boxing those nils and empties was 8 MB of the peak.
@propertyWrapper
public struct BoxedIfPresent<Wrapped: Sendable>: Sendable {
    private typealias Box = ImmutableBox<Wrapped>

    private var box: Box?

    public init(wrappedValue: Wrapped?) {
        box = wrappedValue.map(Box.init)
    }

    public var wrappedValue: Wrapped? {
        get { box?.value }
        set { box = newValue.map(Box.init) }
    }
}

extension BoxedIfPresent: Equatable where Wrapped: Equatable {
    public static func == (lhs: BoxedIfPresent, rhs: BoxedIfPresent) -> Bool {
        lhs.box === rhs.box || lhs.wrappedValue == rhs.wrappedValue
    }
}

/// A value with an empty form that most instances have (``RenewalRecord``: a Secret certctl
/// never wrote).
public protocol EmptyByDefault: Equatable, Sendable {
    init()
}

/// ``Boxed`` for a value that is usually empty: nothing is allocated while it is. At 10,000
/// adopted Secrets, boxing their empty records was 4 MB of a run's peak.
@propertyWrapper
public struct BoxedUnlessEmpty<Value: EmptyByDefault>: Sendable {
    private var box: ImmutableBox<Value>?

    public init(wrappedValue: Value) {
        box = wrappedValue == Value() ? nil : ImmutableBox(wrappedValue)
    }

    public var wrappedValue: Value {
        get { box?.value ?? Value() }
        set { box = newValue == Value() ? nil : ImmutableBox(newValue) }
    }
}

/// The reference the wrappers keep: immutable, so `Sendable` as its value is.
private final class ImmutableBox<Value: Sendable>: Sendable {
    let value: Value

    init(_ value: Value) {
        self.value = value
    }
}
