/*
 * The matcher's claim protocol (issue 3, ../shared/ARCHITECTURE.md "Matching"),
 * checked exhaustively with spin: `make model`.
 *
 * One queue, NE experts, NT tickets stamped 0..NT-1 (lower = older), every
 * interleaving of: tickets arriving, experts matching, one decline,
 * accepting, finishing sessions, and a customer cancelling ticket 1 while it
 * waits or while it is offered.
 *
 * A match is two claims, made by whichever process noticed a possible pair
 * (an arrival, an expert becoming available, a declined ticket coming back):
 *   1. expert AVAILABLE -> RESERVED   (compare-and-swap)
 *   2. ticket WAITING   -> OFFERED    (compare-and-swap)
 * and if claim 2 fails, claim 1 is backed out (RESERVED -> AVAILABLE) and the
 * process looks again. Each atomic { } below is one compare-and-swap of the
 * Swift implementation; everything between them may interleave.
 *
 * The loops are LockFreeMatcher's: an arrival or a decline runs matchQueue
 * (pairs until none is seen; an expert it had to give back is paired by it
 * at once), an expert who becomes available runs matchSelf (claims itself
 * for the oldest waiting ticket, and stops when it holds an offer or is no
 * longer available).
 *
 * Checked:
 *   - a ticket is never offered to two experts at once      (assert in CLAIM)
 *   - an expert never holds two offers                       (assert in CLAIM)
 *   - no older ticket that stayed waiting is overtaken       (assert in CLAIM)
 *   - no ticket is lost and no match is missed: every run ends with every
 *     ticket connected or cancelled (assert in init, and spin's check of
 *     invalid end states: a process stuck before its end is a deadlock).
 *
 * Broken variants, which spin must reject (so the model is known to be able
 * to fail):
 *   -DBROKEN_ORDER    claims the ticket first and the expert second, without
 *                     backing out: a ticket is left OFFERED to nobody.
 *   -DBROKEN_BACKOUT  expert first, but a failed ticket claim does not give
 *                     the expert back: an expert stays RESERVED forever.
 */

#ifndef NT
#define NT 3
#endif
#ifndef NE
#define NE 2
#endif
#define NONE 255

/* ticket states */
#define T_NEW       0
#define T_WAITING   1
#define T_OFFERED   2
#define T_CONNECTED 3
#define T_CANCELLED 4

/* expert states */
#define E_AVAILABLE 0
#define E_RESERVED  1
#define E_OFFERED   2
#define E_BUSY      3

byte tstate[NT];
byte holder[NT];     /* expert an offered ticket is offered to */
byte wver[NT];       /* counts each time a ticket (re)enters WAITING */
byte estate[NE];
byte holding[NE];    /* ticket an expert is offered */
bit declined;        /* one decline in the run, by whichever expert: bounds the run */
bit idle[NE];        /* the expert finished matching and waits for an offer */

/* Quiescent: each expert finished its own matching and is available (NE <= 2). */
#define allIdle (idle[0] && idle[NE - 1] && estate[0] == E_AVAILABLE && estate[NE - 1] == E_AVAILABLE)
#define final(t) (tstate[t] == T_CONNECTED || tstate[t] == T_CANCELLED)

/* Find the oldest waiting ticket, snapshotting the waiting versions of older
 * tickets for the ordering check. Inlines are textual: they use the caller's
 * locals t, e, i, ok and snap. */
inline pickTicket() {
  {
    t = 0;
    do
    :: t < NT && tstate[t] != T_WAITING -> t++
    :: else -> break
    od;
    i = 0;
    do
    :: i < NT -> snap[i] = wver[i]; i++
    :: else -> break
    od;
    i = 0
  }
}

/* The oldest waiting ticket and the first available expert (the longest idle
 * one in the implementation). */
inline pick() {
  {
    pickTicket();
    e = 0;
    do
    :: e < NE && estate[e] != E_AVAILABLE -> e++
    :: else -> break
    od
  }
}

/* Claim 2 succeeded for ticket t by expert e: record the offer and check the
 * invariants at the moment of the claim. */
inline offer() {
  assert(holder[t] == NONE);            /* never offered twice */
  holder[t] = e;
  i = 0;
  do                                    /* no older ticket that stayed waiting overtaken */
  :: i < t -> assert(tstate[i] != T_WAITING || wver[i] != snap[i]); i++
  :: else -> break
  od;
  i = 0
}

/* Forget the locals of one attempt, so that states differing only in dead
 * values are one state (this keeps the search within memory). */
inline forget() {
  d_step {
    t = 0; e = 0; ok = 0; i = 0;
    do
    :: i < NT -> snap[i] = 0; i++
    :: else -> break
    od;
    i = 0
  }
}

/* Claim 2, after claim 1 reserved expert e for ticket t: ok = 1 when the
 * ticket was offered; ok = 0 when it was not waiting any more, and the expert
 * got its availability back.
 *
 * The scan and claim 1 are one atomic step in the loops below: the scan is
 * read-only and claim 1 is a compare-and-swap on what it found, so a scan
 * that went stale only makes that CAS fail and the loop scan again, which
 * adds no state the merged step does not reach. Claim 2 stays a separate
 * step: everything may happen between the two claims. */
inline claimTicket() {
  atomic { if
           :: tstate[t] == T_WAITING -> tstate[t] = T_OFFERED; offer(); ok = 1
           :: else -> ok = 0
           fi };
  if
  :: ok -> atomic { assert(holding[e] == NONE); holding[e] = t; estate[e] = E_OFFERED }
#ifdef BROKEN_BACKOUT
  :: else -> skip                                           /* no back-out */
#else
  :: else -> estate[e] = E_AVAILABLE                        /* back out claim 1 */
#endif
  fi
}

/* LockFreeMatcher.matchExpert: while expert x is available, it claims itself
 * for the oldest waiting ticket, until it holds an offer or sees none. An
 * expert reserved by another process counts as not available: that process
 * either offers it a ticket or backs out and runs this loop for it. */
inline matchSelf(x) {
  do
  :: atomic {
       pickTicket();
       if
       :: estate[x] != E_AVAILABLE || t == NT -> ok = 2
       :: else -> e = x; estate[e] = E_RESERVED; ok = 1      /* claim 1: itself */
       fi
     };
     if
     :: ok == 2 -> forget(); break
     :: else ->
        claimTicket();
        if
        :: ok -> forget(); break
        :: else -> forget()
        fi
     fi
  od
}

/* LockFreeMatcher.matchQueue, run after a ticket arrives or is declined:
 * match the oldest waiting ticket with the first available expert until no
 * such pair is seen. When claim 2 fails, the expert that got its
 * availability back is paired by this process (matchSelf), since others may
 * have passed it over while it was reserved. */
inline matchQueue() {
  do
#ifdef BROKEN_ORDER
  :: atomic {
       pick();
       if
       :: t == NT || e == NE -> ok = 2
       :: else -> tstate[t] = T_OFFERED; offer(); ok = 1      /* ticket claimed first */
       fi
     };
     if
     :: ok == 2 -> forget(); break
     :: else ->
        atomic { if
                 :: estate[e] == E_AVAILABLE -> assert(holding[e] == NONE); holding[e] = t; estate[e] = E_OFFERED
                 :: else -> skip   /* lost the expert: the ticket stays OFFERED to nobody */
                 fi };
        forget()
     fi
#else
  :: atomic {
       pick();
       if
       :: t == NT || e == NE -> ok = 2
       :: else -> estate[e] = E_RESERVED; ok = 1                /* claim 1: the expert */
       fi
     };
     if
     :: ok == 2 -> forget(); break
     :: else ->
        claimTicket();
        if
        :: ok -> forget()
        :: else -> b = e; forget(); matchSelf(b); b = 0
        fi
     fi
#endif
  od
}

/* Customers arrive one after another (terminals stamp tickets in order),
 * each arrival followed by an attempt to match, concurrently with the experts
 * matching, declining, accepting and finishing, and with the cancel. */
proctype Arrivals() {
  byte t, e, i, ok, b; byte snap[NT];
  byte next = 0;
  do
  :: next < NT ->
     atomic { tstate[next] = T_WAITING; wver[next]++; next++ };
     matchQueue()
  :: else -> break
  od
}

/* The customer at ticket 1 leaves, whether it waits or is being offered.
 * Withdrawing the offer is the expert's business: it sees the cancel. */
proctype Cancel() {
  atomic {
    if
    :: tstate[1] == T_WAITING || tstate[1] == T_OFFERED -> tstate[1] = T_CANCELLED
    :: else -> skip
    fi
  }
}

proctype Expert(byte me) {
  byte t, e, i, ok, b; byte snap[NT];
  byte mine;
  matchSelf(me);
  idle[me] = 1;
end_idle:
  do
  :: atomic { estate[me] == E_OFFERED -> idle[me] = 0 };
     mine = holding[me];
     if
     :: declined == 0 ->                /* decline: the ticket goes back to its place */
        declined = 1;
        atomic { if
                 :: tstate[mine] == T_OFFERED -> tstate[mine] = T_WAITING; holder[mine] = NONE; wver[mine]++
                 :: else -> skip          /* cancelled meanwhile: a withdrawn offer */
                 fi };
        /* the decline leaves the expert unavailable and matches the queue */
        atomic { holding[me] = NONE; estate[me] = E_BUSY };
        matchQueue()
     :: true ->                           /* accept, unless cancelled meanwhile */
        atomic { if
                 :: tstate[mine] == T_OFFERED -> tstate[mine] = T_CONNECTED; estate[me] = E_BUSY
                 :: else -> skip
                 fi }
     fi;
     /* session over (or offer gone): wrap-up done, available again */
     atomic { holding[me] = NONE; estate[me] = E_AVAILABLE; mine = 0 };
     matchSelf(me);
     idle[me] = 1
  od
}

init {
  byte k;
  atomic {
    k = 0;
    do
    :: k < NT -> holder[k] = NONE; k++
    :: else -> break
    od;
    k = 0;
    do
    :: k < NE -> holding[k] = NONE; estate[k] = E_AVAILABLE; k++
    :: else -> break
    od;
    k = 0;
    do
    :: k < NE -> run Expert(k); k++
    :: else -> break
    od;
    run Arrivals();
    run Cancel()
  }
  /* Quiescence: the arrivals and the cancel finished, every expert idle. */
  (_nr_pr == NE + 1) && allIdle;
  atomic {
    k = 0;
    do
    :: k < NT -> assert(final(k)); k++
    :: else -> break
    od
  }
}
