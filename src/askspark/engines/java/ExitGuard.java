// The Spark server's exit guard: code run by a job cannot end the server's JVM, nor an executor's.
//
// Installed with -Djava.security.manager=askspark.ExitGuard (engines/server.py). It denies
// System.exit and Runtime.halt, and replacing the guard; it allows everything else, without consulting
// any policy. In the server (the driver) every thread but "main" is denied: spark-submit's main thread
// exits only when the server fails to start, and askspark stops the server with SIGTERM, which the JVM
// handles without these checks. In an executor (-Daskspark.exitguard=tasks) only the threads that run
// tasks are denied: the executor itself still exits when the server tells it to or goes away.
// Compiled at install time by scripts/build-exitguard.sh into exitguard.jar next to this file.
package askspark;

import java.security.Permission;

@SuppressWarnings("removal") // Java 17 to 23 still install it; 24 refuses (engines/server.py checks)
public final class ExitGuard extends SecurityManager {
    private static final boolean TASKS_ONLY = "tasks".equals(System.getProperty("askspark.exitguard"));
    private static final String TASK_THREAD = "Executor task launch worker";

    @Override
    public void checkExit(int status) {
        String thread = Thread.currentThread().getName();
        if (TASKS_ONLY ? thread.startsWith(TASK_THREAD) : !"main".equals(thread)) {
            throw new SecurityException("askspark: a job may not end Spark's JVM (exit " + status + ")");
        }
    }

    @Override
    public void checkPermission(Permission perm) {
        String name = perm.getName();
        if (perm instanceof RuntimePermission && name.startsWith("exitVM")) {
            checkExit(-1);
        } else if (perm instanceof RuntimePermission && name.equals("setSecurityManager")) {
            throw new SecurityException("askspark: the exit guard cannot be replaced");
        }
    }

    @Override
    public void checkPermission(Permission perm, Object context) {
        checkPermission(perm);
    }
}
