"""The exception hierarchy (python/src/errors.rs)."""

import pickle

import pytest

import datahub

# Each class and the code it is raised with (or, for a class serving several
# situations, its usual one: the class attribute).
CLASS_CODES = {
    "DataHubError": 0,
    "SchemaError": 100,
    "InvalidConfig": 201,
    "ChannelExists": 202,
    "NotFound": 203,
    "CorruptSegment": 204,
    "Closed": 206,
    "SchemaMismatch": 207,
    "ConsumersFull": 208,
    "Timeout": 209,
    "ChecksumMismatch": 211,
    "WrongZone": 212,
    "PayloadTooLarge": 213,
    "AccessDenied": 214,
    "ProducerGone": 215,
    "SchemaChanged": 216,
    "ItemHeld": 225,
    "NoRing": 226,
    "SlotHeld": 227,
    "Released": 228,
    "InvalidArgument": 229,
}


def test_every_class_is_a_datahub_error_with_its_code():
    assert issubclass(datahub.DataHubError, Exception)
    for name, code in CLASS_CODES.items():
        cls = getattr(datahub, name)
        assert issubclass(cls, datahub.DataHubError), name
        assert cls.__module__ == "datahub"
        assert cls.__name__ == name
        assert cls.code == code, name
        assert cls.__doc__, name
        assert name in datahub.__all__


def test_timeout_is_also_the_builtin_timeout_error():
    assert issubclass(datahub.Timeout, TimeoutError)
    assert issubclass(datahub.Timeout, datahub.DataHubError)
    try:
        raise datahub.Timeout("waited 1 s")
    except TimeoutError as e:
        assert isinstance(e, datahub.DataHubError)
        assert str(e) == "waited 1 s"
        assert e.code == 209


def test_argument_errors_are_also_value_errors():
    for cls in (datahub.InvalidConfig, datahub.PayloadTooLarge, datahub.InvalidArgument):
        assert issubclass(cls, ValueError)
    # The situations a caller tells apart are not each other's.
    assert not issubclass(datahub.Closed, datahub.ProducerGone)
    assert not issubclass(datahub.NotFound, datahub.Timeout)


def test_inspect_of_a_missing_channel_raises_not_found_with_code_203(channel):
    with pytest.raises(datahub.NotFound) as caught:
        datahub.inspect(channel)
    e = caught.value
    assert type(e).__name__ == "NotFound"
    assert e.code == 203 and isinstance(e.code, int)
    assert f"no channel `{channel}`" in str(e)
    assert "start its producer" in str(e)


def test_an_invalid_channel_name_raises_a_datahub_error():
    # A name with '/' is no segment name: refused before touching /dev/shm.
    with pytest.raises(datahub.DataHubError) as caught:
        datahub.inspect("no/such")
    assert caught.value.code > 200


def test_a_schema_file_that_does_not_load_raises_schema_error_with_its_code(tmp_path):
    with pytest.raises(datahub.SchemaError) as caught:
        datahub.schema_hash(tmp_path / "missing.toml")
    assert caught.value.code == 190
    assert "missing.toml" in str(caught.value)

    padded = tmp_path / "padded.toml"
    padded.write_text(
        'format = 1\n\n[structs.Bad]\nfields = [\n  { name = "a", type = "u8" },\n'
        '  { name = "b", type = "u32" },\n]\n\n[channels.bad]\nslot = "Bad"\n'
    )
    with pytest.raises(datahub.SchemaError) as caught:
        datahub.schema_hash(padded)
    assert caught.value.code == 116
    assert "implicit padding" in str(caught.value)


def test_a_channel_the_schema_lacks_raises_invalid_argument(schemas):
    with pytest.raises(datahub.InvalidArgument) as caught:
        datahub.schema_hash(schemas / "sensor.toml", "nope")
    assert caught.value.code == 229
    assert "has no channel `nope`" in str(caught.value)
    assert "`sensor`" in str(caught.value)
    with pytest.raises(ValueError):
        datahub.cleanup(42)


def test_schema_hash_is_codegens(schemas):
    # datahub-codegen hash --json schemas/sensor.toml
    assert datahub.schema_hash(schemas / "sensor.toml") == (
        "dh1:2025bb1e1352bef207948b417271234e5aee7e1ca1299ebe02b2d892b4c9e453"
    )


def test_errors_pickle_with_their_code():
    e = datahub.SchemaMismatch("field `samples` differs")
    e.code = 207
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is datahub.SchemaMismatch
    assert (str(again), again.code) == ("field `samples` differs", 207)
    t = pickle.loads(pickle.dumps(datahub.Timeout("late")))
    assert isinstance(t, TimeoutError) and t.code == 209
