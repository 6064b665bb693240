/*
 * Two queues: why LockFreeMatcher hands a backed-out expert over to the
 * thread that backed it out (`make model`, beside matcher.pml).
 *
 * Expert 0 serves queues 0 and 1, expert 1 serves queue 0 only. Ticket 0
 * arrives in queue 0 and ticket 1 in queue 1, each from its own process, so
 * the two arrivals run at once. The race: the arrival of ticket 0 reserves
 * expert 0 (claim 1); the arrival of ticket 1 sees expert 0 reserved and
 * finds nobody for queue 1; expert 1 takes ticket 0 first, so claim 2 of the
 * first arrival fails and it gives expert 0 back. Nobody is left to pair
 * expert 0 with ticket 1 unless the thread that backed out does it
 * (matchSelf after the back-out).
 *
 * Checked, as in matcher.pml: no ticket offered twice, no expert holding two
 * offers, no older eligible waiting ticket overtaken, and every run ends
 * with every ticket connected.
 *
 * Broken variant, which spin must reject:
 *   -DBROKEN_HANDOVER  after a failed claim 2 the expert is given back but
 *                      not paired: ticket 1 waits beside an idle expert.
 */

#define NT 2
#define NE 2
#define NONE 255

#define T_NEW       0
#define T_WAITING   1
#define T_OFFERED   2
#define T_CONNECTED 3

#define E_AVAILABLE 0
#define E_RESERVED  1
#define E_OFFERED   2
#define E_BUSY      3

byte tstate[NT];
byte tqueue[NT];     /* ticket t waits in queue tqueue[t] */
byte holder[NT];
byte wver[NT];
byte estate[NE];
byte eskills[NE];    /* bit q set: the expert serves queue q */
byte holding[NE];
bit idle[NE];

#define serves(x, q) (((eskills[x] >> (q)) & 1) == 1)

/* The oldest waiting ticket among the queues of mask m (bit q = queue q),
 * with a snapshot of the waiting versions for the ordering check. */
inline pickTicket(m) {
  t = 0;
  do
  :: t < NT && !(tstate[t] == T_WAITING && ((m >> tqueue[t]) & 1)) -> t++
  :: else -> break
  od;
  i = 0;
  do
  :: i < NT -> snap[i] = wver[i]; i++
  :: else -> break
  od;
  i = 0
}

/* Claim 2 succeeded: no older ticket of the eligible queues (mask m) that
 * stayed waiting is overtaken, and the ticket was offered to nobody. */
inline offer(m) {
  assert(holder[t] == NONE);
  holder[t] = e;
  i = 0;
  do
  :: i < t -> assert(!(tstate[i] == T_WAITING && ((m >> tqueue[i]) & 1)) || wver[i] != snap[i]); i++
  :: else -> break
  od;
  i = 0
}

inline forget() {
  d_step { t = 0; e = 0; ok = 0; i = 0; snap[0] = 0; snap[1] = 0 }
}

inline claimTicket(m) {
  atomic { if
           :: tstate[t] == T_WAITING -> tstate[t] = T_OFFERED; offer(m); ok = 1
           :: else -> ok = 0
           fi };
  if
  :: ok -> atomic { assert(holding[e] == NONE); holding[e] = t; estate[e] = E_OFFERED }
  :: else -> estate[e] = E_AVAILABLE                        /* back out claim 1 */
  fi
}

/* LockFreeMatcher.matchExpert for expert x. */
inline matchSelf(x) {
  do
  :: atomic {
       pickTicket(eskills[x]);
       if
       :: estate[x] != E_AVAILABLE || t == NT -> ok = 2
       :: else -> e = x; estate[e] = E_RESERVED; ok = 1
       fi
     };
     if
     :: ok == 2 -> forget(); break
     :: else ->
        claimTicket(eskills[e]);
        if
        :: ok -> forget(); break
        :: else -> forget()
        fi
     fi
  od
}

/* LockFreeMatcher.matchQueue for queue q. */
inline matchQueue(q) {
  do
  :: atomic {
       pickTicket(1 << q);
       e = 0;
       do
       :: e < NE && !(estate[e] == E_AVAILABLE && serves(e, q)) -> e++
       :: else -> break
       od;
       if
       :: t == NT || e == NE -> ok = 2
       :: else -> estate[e] = E_RESERVED; ok = 1
       fi
     };
     if
     :: ok == 2 -> forget(); break
     :: else ->
        claimTicket(1 << q);
        if
        :: ok -> forget()
#ifdef BROKEN_HANDOVER
        :: else -> forget()
#else
        :: else -> b = e; forget(); matchSelf(b); b = 0
#endif
        fi
     fi
  od
}

proctype Arrival(byte k) {
  byte t, e, i, ok, b; byte snap[NT];
  atomic { tstate[k] = T_WAITING; wver[k]++ };
  matchQueue(tqueue[k])
}

proctype Expert(byte me) {
  byte t, e, i, ok, b; byte snap[NT];
  matchSelf(me);
  idle[me] = 1;
end_idle:
  do
  :: atomic { estate[me] == E_OFFERED -> idle[me] = 0 };
     atomic { tstate[holding[me]] = T_CONNECTED; estate[me] = E_BUSY };     /* accept */
     atomic { holding[me] = NONE; estate[me] = E_AVAILABLE };              /* session over */
     matchSelf(me);
     idle[me] = 1
  od
}

init {
  byte k;
  atomic {
    holder[0] = NONE; holder[1] = NONE;
    holding[0] = NONE; holding[1] = NONE;
    tqueue[0] = 0; tqueue[1] = 1;
    eskills[0] = 3; eskills[1] = 1;
    run Expert(0); run Expert(1);
    run Arrival(0); run Arrival(1)
  }
  /* Quiescence: both arrivals done, each expert available and done matching. */
  (_nr_pr == NE + 1) && idle[0] && idle[1] && estate[0] == E_AVAILABLE && estate[1] == E_AVAILABLE;
  atomic {
    k = 0;
    do
    :: k < NT -> assert(tstate[k] == T_CONNECTED); k++
    :: else -> break
    od
  }
}
