#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"

#include "pinnacle.h"
#include "run_lifecycle.h"
#include "run_store.h"

PG_FUNCTION_INFO_V1(pinnacle_run_is_live);

/*
 * Our locks are advisory locks whose fourth field is one that no SQL function uses
 * (pg_advisory_lock and its kin use 1 and 2), so no role can take, hold or fake them.
 */
#define LOCK_KIND_LIVENESS 0x7031
#define LOCK_KIND_TRAINING_SLOT 0x7032
#define LOCK_KIND_ROLE_STARTS 0x7033
#define LOCK_KIND_QUEUE_HEAD 0x7034

bool
pt_run_status_is_final(const char *status)
{
	return strcmp(status, PT_STATUS_QUEUED) != 0 && strcmp(status, PT_STATUS_RUNNING) != 0;
}

const char *
pt_run_status_for_error(int sqlerrcode)
{
	/* a shutdown, or a rank of a data-parallel run lost (pt_sqlstate_of(PT_ERROR_PEER)) */
	if (sqlerrcode == ERRCODE_ADMIN_SHUTDOWN || sqlerrcode == ERRCODE_CONNECTION_EXCEPTION)
		return PT_STATUS_INTERRUPTED;
	if (sqlerrcode == ERRCODE_QUERY_CANCELED)
		return PT_STATUS_CANCELLED;
	return PT_STATUS_FAILED;
}

static LOCKTAG
liveness_tag(int64 run_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (run_id >> 32), (uint32) run_id, LOCK_KIND_LIVENESS);
	return tag;
}

void
pt_run_hold_liveness(int64 run_id)
{
	LOCKTAG		tag = liveness_tag(run_id);

	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		elog(ERROR, "run " INT64_FORMAT " already has a supervisor", run_id);
}

bool
pt_run_is_live(int64 run_id)
{
	LOCKTAG		tag = liveness_tag(run_id);

	if (LockAcquire(&tag, ShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ShareLock, false);
	return false;
}

static LOCKTAG
role_starts_tag(Oid role)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, InvalidOid, 0, (uint32) role, LOCK_KIND_ROLE_STARTS);
	return tag;
}

void
pt_run_lock_role(Oid role)
{
	LOCKTAG		tag = role_starts_tag(role);

	(void) LockAcquire(&tag, ExclusiveLock, true, false);
}

void
pt_run_unlock_role(Oid role)
{
	LOCKTAG		tag = role_starts_tag(role);

	LockRelease(&tag, ExclusiveLock, true);
}

static LOCKTAG
training_slot_tag(int slot)
{
	LOCKTAG		tag;

	/* server-wide: pinnacle.max_workers counts the runs of every database */
	SET_LOCKTAG_ADVISORY(tag, InvalidOid, 0, (uint32) slot, LOCK_KIND_TRAINING_SLOT);
	return tag;
}

/* Whether this process is the run at the head of the queue for training slots. */
static bool holds_queue_head = false;

/* All `count` slots or none: a run holding some while it waits for the rest could starve
 * another that waits for those. And in turn: a run that finds too few slots free becomes the
 * head of the queue, and while it waits no other run takes a slot, so that a run of several
 * ranks is not overtaken for ever by runs of one. */
bool
pt_run_try_training_slots(int count)
{
	LOCKTAG		head;
	int			taken[1024];
	int			ntaken = 0;

	SET_LOCKTAG_ADVISORY(head, InvalidOid, 0, 0, LOCK_KIND_QUEUE_HEAD);
	pt_store_begin();
	if (!holds_queue_head)
		holds_queue_head = LockAcquire(&head, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
	if (!holds_queue_head)
	{
		pt_store_commit();
		return false;			/* another run waits for its slots first */
	}
	for (int slot = 0; slot < pinnacle_max_workers && ntaken < count; slot++)
	{
		LOCKTAG		tag = training_slot_tag(slot);

		if (LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
			taken[ntaken++] = slot;
	}
	if (ntaken < count)
		for (int i = 0; i < ntaken; i++)
		{
			LOCKTAG		tag = training_slot_tag(taken[i]);

			LockRelease(&tag, ExclusiveLock, true);
		}
	else
	{
		LockRelease(&head, ExclusiveLock, true);	/* the next run in line may go */
		holds_queue_head = false;
	}
	pt_store_commit();
	return ntaken == count;
}

/* pinnacle.run_is_live(run_id), for pinnacle.mark_lost_runs() */
Datum
pinnacle_run_is_live(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pt_run_is_live(PG_GETARG_INT64(0)));
}

char *
pt_run_record_start(int64 run_id, const char *identifier, const char *spec_json, bool train_snapshot,
					bool validation_snapshot)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, BOOLOID, TEXTOID};
	Datum		values[7] = {Int64GetDatum(run_id), CStringGetTextDatum(identifier),
		CStringGetTextDatum(spec_json), Int32GetDatum(MyProcPid), BoolGetDatum(train_snapshot),
	BoolGetDatum(validation_snapshot)};
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *identifier_owner;

	pt_store_begin();
	values[6] = CStringGetTextDatum(pt_store_run_owner_name());
	/* before the row is visible: a visible live run always has a live supervisor */
	pt_run_hold_liveness(run_id);
	pt_store_execute("INSERT INTO pinnacle.runs (id, identifier, spec, status, worker_pid, snapshot, validation_snapshot, owner) "
					 "VALUES ($1, $2, $3::jsonb, 'running', $4, CASE WHEN $5 THEN pinnacle.snapshot_name($1, 'train') END, "
					 "CASE WHEN $6 THEN pinnacle.snapshot_name($1, 'validation') END, $7)",
					 7, types, values, SPI_OK_INSERT);
	/* the claim commits with the run, before the caller's call returns */
	pt_store_execute("INSERT INTO pinnacle.identifiers (identifier, owner) VALUES ($2, $7) "
					 "ON CONFLICT (identifier) DO NOTHING", 7, types, values, SPI_OK_INSERT);
	pt_store_execute("SELECT owner FROM pinnacle.identifiers WHERE identifier = $2", 7, types, values, SPI_OK_SELECT);
	identifier_owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	identifier_owner = strcmp(identifier_owner, TextDatumGetCString(values[6])) == 0 ? NULL
		: MemoryContextStrdup(caller_context, identifier_owner);
	pt_store_commit();
	return identifier_owner;
}

/* The run of this server's part of a run across servers (pinnacle.train_shard): it points to
 * the coordinating run and claims no identifier. */
void
pt_run_record_shard_start(int64 run_id, const char *identifier, const char *spec_json, const char *coordinator,
						  int64 coordinator_run, int first_rank, int world)
{
	Oid			types[9] = {INT8OID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, INT8OID, INT4OID, INT4OID};
	Datum		values[9] = {Int64GetDatum(run_id), CStringGetTextDatum(identifier),
		CStringGetTextDatum(spec_json), Int32GetDatum(MyProcPid), 0, CStringGetTextDatum(coordinator),
	Int64GetDatum(coordinator_run), Int32GetDatum(first_rank), Int32GetDatum(world)};

	pt_store_begin();
	values[4] = CStringGetTextDatum(pt_store_run_owner_name());
	pt_run_hold_liveness(run_id);
	pt_store_execute("INSERT INTO pinnacle.runs (id, identifier, spec, status, worker_pid, owner, coordinator, "
					 "coordinator_run, first_rank, world_size) VALUES ($1, $2, $3::jsonb, 'running', $4, $5, $6, $7, $8, $9)",
					 9, types, values, SPI_OK_INSERT);
	pt_store_commit();
}

void
pt_run_set_queued(int64 run_id, bool queued)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(run_id),
	CStringGetTextDatum(queued ? PT_STATUS_QUEUED : PT_STATUS_RUNNING)};

	pt_store_begin();
	pt_store_execute("UPDATE pinnacle.runs SET status = $2 WHERE id = $1 AND status IN ('queued', 'running')",
					 2, types, values, SPI_OK_UPDATE);
	pt_store_commit();
}

void
pt_run_set_trainer(int64 run_id, int trainer_pid)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int32GetDatum(trainer_pid)};

	pt_store_begin();
	pt_store_execute("UPDATE pinnacle.runs SET trainer_pid = $2 WHERE id = $1", 2, types, values, SPI_OK_UPDATE);
	pt_store_commit();
}

void
pt_run_record_end(int64 run_id, const char *status, const char *error)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(status), CStringGetTextDatum(error)};

	pt_store_begin();
	pt_store_execute("UPDATE pinnacle.runs SET status = $2, error = $3, finished_at = clock_timestamp(), "
					 "worker_pid = NULL, trainer_pid = NULL WHERE id = $1 AND status IN ('queued', 'running')",
					 3, types, values, SPI_OK_UPDATE);
	pt_store_commit();
}

void
pt_run_mark_succeeded(int64 run_id, const char *stop_reason, Datum version)
{
	Oid			types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(stop_reason), version};

	pt_store_execute("UPDATE pinnacle.runs SET status = 'succeeded', finished_at = clock_timestamp(), "
					 "stop_reason = $2, version = $3, worker_pid = NULL, trainer_pid = NULL WHERE id = $1",
					 3, types, values, SPI_OK_UPDATE);
}
